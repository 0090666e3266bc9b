/**
 * pgfeed/client: subscribe to a pgfeed stream, or keep a live keyed collection, from Node or a browser. It
 * needs only fetch and eventsource-parser; the types come from the server's zod schemas, but no schema
 * code is loaded.
 */
export { subscribe, SubscribeError, type SubscribeOptions, type Subscription } from './subscribe';
export { live, type Live, type LiveOptions, type LiveScope, type LiveSnapshot } from './live';
export { LiveCollection, type Change, type LiveItem, type SnapshotPage } from './collection';
export { nextState, type ConnectionInput, type ConnectionState, type ConnectionStatus } from './connection';
export { matchesWhere, parseWhere, type Condition, type Where, type WhereOp } from './where';
export type { ChangeEvent, EntityEvent, Op, ReadyData, ResetData } from '../events/schema';
