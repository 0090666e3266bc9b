/**
 * A server's cost as the kernel counts it, for the whole process tree (a
 * cluster's primary and its workers): CPU time from /proc/<pid>/stat
 * (utime + stime) and resident memory from /proc/<pid>/status (VmRSS).
 * Linux only, like the rest of the bench's measurements.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processTree } from '../../test/support/toolkit';

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

export interface TreeUsage {
  /** CPU time used so far, user + system, milliseconds (resolution: one clock tick, 10 ms). */
  cpuMs: number;
  /** Resident set size now, bytes. */
  rss: number;
}

/** CPU and RSS of `pid` and every process below it. */
export function treeUsage(pid: number): TreeUsage {
  let cpuMs = 0;
  let rss = 0;
  for (const p of processTree(pid).keys()) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuMs += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      rss += Number(kb ?? 0) * 1024;
    } catch {
      // exited while we looked
    }
  }
  return { cpuMs, rss };
}
