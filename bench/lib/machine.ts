import { execFileSync } from "node:child_process";
import os from "node:os";
import type pg from "pg";

export type MachineInfo = {
  date: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  gitCommit: string | null;
  gitDirty: boolean | null;
  /** Uncommitted changes under src/ at the time of the run: the code measured is HEAD plus these. */
  sourceChanges: string[];
};

const SETTINGS = [
  "shared_buffers",
  "max_connections",
  "synchronous_commit",
  "fsync",
  "wal_level",
  "autovacuum",
  "work_mem",
  "effective_cache_size",
];

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

/** Read-only facts about where the numbers came from; git is only read, never changed. */
export async function describeMachine(pool: pg.Pool, repoDir: string): Promise<MachineInfo> {
  const version = await pool.query<{ version: string }>("SELECT version()");
  const settings = await pool.query<{ name: string; setting: string; unit: string | null }>(
    "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)",
    [SETTINGS],
  );
  const status = git(["status", "--porcelain"], repoDir);
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: version.rows[0]?.version ?? "unknown",
    postgresSettings: Object.fromEntries(
      settings.rows.map((row) => [row.name, row.unit ? `${row.setting} (${row.unit})` : row.setting]),
    ),
    gitCommit: git(["rev-parse", "HEAD"], repoDir),
    gitDirty: status === null ? null : status.length > 0,
    sourceChanges: (git(["status", "--porcelain", "--", "src"], repoDir) ?? "").split("\n").filter(Boolean),
  };
}
