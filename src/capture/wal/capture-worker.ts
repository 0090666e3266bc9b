/**
 * The capture worker thread's entry (started by capture-thread.ts): one
 * Capturer with its own replication connection and its own small pool for
 * the appends, so decoding the stream and the append round trips never wait
 * behind the main thread's fan-out to thousands of sockets. What the main
 * thread needs (state, counts, skips, the appended events for its listener,
 * log lines) goes back by postMessage.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { connect } from '../../db/connect';
import { type LogLevel, createLogger } from '../../log';
import { Capturer, type OwnDelivery } from './capturer';
import type { CaptureJob, CaptureState, FromWorker, ToWorker } from './thread-messages';

/** How often the capturer's state is looked at and, when it changed (or queries were sent), sent. */
const STATE_INTERVAL_MS = 200;

function run(port: MessagePort, job: CaptureJob): void {
  const post = (m: FromWorker) => port.postMessage(m);
  let queries = 0;
  // Two connections (beside DB_POOL_SIZE): an append, and a slot check or heartbeat beside it.
  const sql = connect(job.poolUrl, { max: 2, onQuery: () => queries++ });
  const logger = createLogger(job.logLevel as LogLevel, { write: (line: string) => post({ t: 'log', line }) });
  let own = false;
  let seq = 0;
  const ownDelivery: OwnDelivery = (events) => {
    const n = ++seq;
    post({ t: 'own', seq: n });
    void events.then((e) => post({ t: 'ownEvents', seq: n, events: e }));
  };
  const capturer = new Capturer({
    ...job,
    sql,
    logger,
    onAppended: (changes) => post({ t: 'appended', changes }),
    ownDelivery: () => (own ? ownDelivery : null),
    onSkipped: (skip) => post({ t: 'skipped', skip }),
  });

  let sent = '';
  const sendState = () => {
    const { health } = capturer;
    const state: CaptureState = {
      role: capturer.role,
      failures: health.failures,
      lastError: health.lastError,
      failingSince: health.failingSince?.getTime(),
      attempts: health.attempts,
      pendingSince: capturer.pendingSince?.getTime() ?? null,
    };
    const text = JSON.stringify(state);
    if (text === sent && queries === 0) return;
    sent = text;
    post({ t: 'state', state, queries });
    queries = 0;
  };
  capturer.on('role', sendState);
  const ticker = setInterval(sendState, STATE_INTERVAL_MS);

  port.on('message', (m: ToWorker) => {
    if (m.t === 'own') own = m.on;
    else if (m.t === 'stop') {
      own = false;
      clearInterval(ticker);
      void (async () => {
        await capturer.stop();
        await sql.end({ timeout: 1 }).catch(() => {});
        sendState();
        post({ t: 'stopped' });
        // Nothing else holds the thread: with the port closed it exits by itself (a handle left open
        // would keep it alive, and the main thread would say so when it has to terminate it).
        port.close();
      })();
    }
  });
  capturer.start();
  sendState();
}

if (parentPort) run(parentPort, workerData as CaptureJob);
