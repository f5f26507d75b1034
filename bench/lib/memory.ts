import fs from "node:fs";
import os from "node:os";

const MIB = 1024 * 1024;

/** The live processes of a process group (the app server started detached), read from /proc. */
export function processGroupPids(pgid: number): number[] {
  if (os.platform() !== "linux") return [];
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command name (which may contain spaces) start after the last ")"; pgrp is the 3rd.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

/** Resident set size of these processes together, in bytes (VmRSS of /proc/<pid>/status; gone ones count 0). */
export function residentBytes(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      if (match?.[1]) total += Number(match[1]) * 1024;
    } catch {}
  }
  return total;
}

export const toMiB = (bytes: number) => bytes / MIB;

export type RssSamples = {
  /** RSS when sampling started, bytes. */
  firstBytes: number;
  peakBytes: number;
  lastBytes: number;
  /** Every sample: milliseconds since sampling started, and the RSS then in bytes. */
  timeline: [number, number][];
};

/**
 * Samples a process group's RSS every `intervalMs` until `stop`. The group's members are listed once, at
 * the start (the server forks nothing while it serves a download), so a sample costs a few small reads.
 */
export function startRssSampler(pgid: number, intervalMs = 100): { stop: () => RssSamples } {
  const pids = processGroupPids(pgid);
  const started = performance.now();
  const firstBytes = residentBytes(pids);
  const timeline: [number, number][] = [[0, firstBytes]];
  const sample = () => {
    timeline.push([Math.round(performance.now() - started), residentBytes(pids)]);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const bytes = timeline.map(([, value]) => value);
      return { firstBytes, peakBytes: Math.max(...bytes), lastBytes: bytes.at(-1) ?? firstBytes, timeline };
    },
  };
}

/**
 * How much higher the RSS peaked in the second half of a run than in the first, in bytes (0 when it did
 * not): a working set bounded by a batch reaches its plateau early, one that holds rows keeps climbing.
 */
export function secondHalfRise(samples: RssSamples): number {
  const end = samples.timeline.at(-1)?.[0] ?? 0;
  let first = samples.firstBytes;
  let second = 0;
  for (const [ms, bytes] of samples.timeline) {
    if (ms * 2 <= end) first = Math.max(first, bytes);
    else second = Math.max(second, bytes);
  }
  return Math.max(0, second - first);
}
