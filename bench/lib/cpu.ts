import fs from "node:fs";
import os from "node:os";
import type pg from "pg";

/** Linux reports process CPU in clock ticks; 100 per second on every distribution this runs on. */
const TICKS_PER_SECOND = 100;

function procCpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Whole-machine busy time from /proc/stat, to tell how much of the CPU other processes took. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

export type CpuUsage = {
  /** CPU the bench process (the client side: Drizzle, zod, pg, the load loop) used. */
  clientMs: number;
  /** CPU the app server's processes used, when a server process group was given. */
  serverMs: number | null;
  /** CPU the bench database's backends used (PostgreSQL on this host, read from /proc). */
  databaseMs: number | null;
  /** Share of the whole machine that was busy, all processes included (others' work too). */
  machineBusyShare: number | null;
  wallMs: number;
};

async function backendPids(pool: pg.Pool, databaseName: string): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
    [databaseName],
  );
  return rows.map((row) => row.pid);
}

/**
 * CPU accounting around a run: the client process and the database backends, so the cost of one spend
 * can be split between JavaScript and SQL. Backends that appear during the run are counted in full.
 */
export async function startCpuMeter(pool: pg.Pool, databaseName: string, serverGroup: number | null = null) {
  const wallStart = performance.now();
  const serverStart = serverGroup === null ? null : processGroupCpuMs(serverGroup);
  const clientStart = process.cpuUsage();
  const machineStart = machineTicks();
  const backendsStart = new Map<number, number>();
  const local = os.platform() === "linux";
  if (local) {
    for (const pid of await backendPids(pool, databaseName)) {
      const ms = procCpuMs(pid);
      if (ms !== null) backendsStart.set(pid, ms);
    }
  }
  return {
    async stop(): Promise<CpuUsage> {
      const client = process.cpuUsage(clientStart);
      const wallMs = performance.now() - wallStart;
      const machineEnd = machineTicks();
      let databaseMs: number | null = null;
      if (local && backendsStart.size > 0) {
        databaseMs = 0;
        for (const pid of await backendPids(pool, databaseName)) {
          const ms = procCpuMs(pid);
          if (ms !== null) databaseMs += ms - (backendsStart.get(pid) ?? 0);
        }
      }
      const machineBusyShare =
        machineStart && machineEnd
          ? (machineEnd.busy - machineStart.busy) / Math.max(1, machineEnd.total - machineStart.total)
          : null;
      const serverEnd = serverGroup === null ? null : processGroupCpuMs(serverGroup);
      const serverMs = serverStart === null || serverEnd === null ? null : serverEnd - serverStart;
      return {
        clientMs: (client.user + client.system) / 1000,
        serverMs,
        databaseMs,
        machineBusyShare,
        wallMs,
      };
    },
  };
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(" / ");
}

/** CPU used so far by every live process of a process group (the app server started detached). */
export function processGroupCpuMs(pgid: number): number | null {
  if (os.platform() !== "linux") return null;
  let total = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      total += ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    } catch {}
  }
  return total;
}
