import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { processSlot } from "@/lib/process-registry";

/**
 * One process at a time per embedded database folder. PGlite has no locking of its own: two processes
 * that open one folder each keep their own copy of the database in memory and write over each other's
 * files (balances diverge, ids repeat, and the folder may not open again). A lock file beside the folder
 * (`<folder>.lock`, e.g. `.data/pglite.lock`) names the process holding it.
 *
 * A lock whose holder is gone is taken over at once: on the same machine the holder's pid is checked
 * (with its start time, so a reused pid does not count); a holder on another machine (a shared volume)
 * must refresh the file's time every HEARTBEAT_MS, and counts as gone after STALE_AFTER_MS of silence.
 * The file is written with O_EXCL, so of two processes starting together exactly one creates it.
 */

const HEARTBEAT_MS = 10_000;
const STALE_AFTER_MS = 60_000;
/** A lock file still being written (empty or partial) counts as held for this long. */
const WRITING_GRACE_MS = 10_000;

export type LockHolder = {
  pid: number;
  hostname: string;
  /** Linux's boot id: a lock from before a reboot is stale whatever its pid. */
  bootId: string | null;
  /** The holder's start time in clock ticks since boot (Linux), so a reused pid is not taken for it. */
  processStart: string | null;
  command: string;
  port: string | null;
  since: string;
};

/** The folder is held by another process. */
export class DataDirLockedError extends Error {
  readonly code = "data_dir_locked";
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    readonly holder: LockHolder | null,
  ) {
    const who = holder
      ? `process ${holder.pid} (${holder.command}${holder.port ? `, PORT=${holder.port}` : ""}${
          holder.hostname === os.hostname() ? "" : ` on ${holder.hostname}`
        }, since ${holder.since})`
      : "another process that is starting";
    super(
      `The embedded database ${dataDir} is in use by ${who}. Only one process may open it at a time: stop that process first (the app, \`npm run dev\` and \`npm run credits\` each open it), or use PostgreSQL (DATABASE_URL), which any number of processes can share. If that process is certainly gone, delete ${lockFile}.`,
    );
    this.name = "DataDirLockedError";
  }
}

export type DataDirLock = { lockFile: string; release: () => void };

type Held = { count: number; heartbeat: NodeJS.Timeout };
// One map per process (src/lib/process-registry.ts): every copy of this module must see the locks held.
const held = processSlot<Map<string, Held>>("dataDirLocks", () => new Map());

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function bootId(): string | null {
  return readText("/proc/sys/kernel/random/boot_id")?.trim() ?? null;
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces, so count from its ")". */
function processStart(pid: number): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return null;
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
}

function describeCommand(): string {
  const [node, ...args] = process.argv;
  const shown = args.map((arg) => (path.isAbsolute(arg) ? path.relative(process.cwd(), arg) || arg : arg));
  return [path.basename(node ?? "node"), ...shown].join(" ").slice(0, 200);
}

function ownHolder(): LockHolder {
  return {
    pid: process.pid,
    hostname: os.hostname(),
    bootId: bootId(),
    processStart: processStart(process.pid),
    command: describeCommand(),
    port: process.env.PORT ?? null,
    since: new Date().toISOString(),
  };
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    return typeof value.pid === "number" && typeof value.hostname === "string" ? (value as LockHolder) : null;
  } catch {
    return null;
  }
}

function isOwn(holder: LockHolder): boolean {
  return (
    holder.pid === process.pid &&
    holder.hostname === os.hostname() &&
    holder.bootId === bootId() &&
    holder.processStart === processStart(process.pid)
  );
}

/** Is the process named in the lock still there? */
function holderState(holder: LockHolder | null, lockFile: string): "alive" | "gone" {
  const ageMs = (() => {
    try {
      return Date.now() - fs.statSync(lockFile).mtimeMs;
    } catch {
      return 0;
    }
  })();
  if (!holder) return ageMs > WRITING_GRACE_MS ? "gone" : "alive";
  if (holder.hostname !== os.hostname()) return ageMs > STALE_AFTER_MS ? "gone" : "alive";
  const currentBoot = bootId();
  if (holder.bootId && currentBoot && holder.bootId !== currentBoot) return "gone";
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return "gone";
  }
  const start = processStart(holder.pid);
  if (holder.processStart && start && start !== holder.processStart) return "gone";
  return "alive";
}

/** Creates the file only if it does not exist (O_EXCL); false when it does. */
function createExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    fs.writeSync(fd, content);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/**
 * Replaces a lock judged stale. Two processes may judge the same lock stale at once; the `.takeover`
 * file lets one of them replace it, and the other then finds the new holder alive.
 */
function takeOver(lockFile: string, staleText: string, content: string): boolean {
  const mutex = `${lockFile}.takeover`;
  if (!createExclusive(mutex, String(process.pid))) {
    try {
      if (Date.now() - fs.statSync(mutex).mtimeMs > WRITING_GRACE_MS) fs.rmSync(mutex, { force: true });
    } catch {}
    return false;
  }
  try {
    if (readText(lockFile) !== staleText) return false;
    fs.rmSync(lockFile, { force: true });
    return createExclusive(lockFile, content);
  } finally {
    fs.rmSync(mutex, { force: true });
  }
}

function keep(lockFile: string): DataDirLock {
  let entry = held.get(lockFile);
  if (entry) entry.count += 1;
  else {
    const heartbeat = setInterval(() => {
      try {
        const now = new Date();
        fs.utimesSync(lockFile, now, now);
      } catch {}
    }, HEARTBEAT_MS);
    heartbeat.unref();
    entry = { count: 1, heartbeat };
    held.set(lockFile, entry);
  }
  let released = false;
  return {
    lockFile,
    release: () => {
      if (released) return;
      released = true;
      const current = held.get(lockFile);
      if (!current) return;
      current.count -= 1;
      if (current.count > 0) return;
      clearInterval(current.heartbeat);
      held.delete(lockFile);
      removeIfOwn(lockFile);
    },
  };
}

function removeIfOwn(lockFile: string): void {
  try {
    const holder = parseHolder(readText(lockFile) ?? "");
    if (holder && isOwn(holder)) fs.rmSync(lockFile, { force: true });
  } catch {}
}

// A process that exits (normally or by process.exit) gives its locks back; one that is killed leaves
// the file, which the next opener finds stale.
process.once("exit", () => {
  for (const lockFile of held.keys()) removeIfOwn(lockFile);
});

/**
 * Takes the lock of an embedded database folder for this process, or throws DataDirLockedError naming
 * the process that holds it. The same process may take it again (a development reload); each handle is
 * released once, and the file goes with the last.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const resolved = path.resolve(dataDir);
  const lockFile = path.join(path.dirname(resolved), `${path.basename(resolved)}.lock`);
  if (held.has(lockFile)) return keep(lockFile);
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const content = `${JSON.stringify(ownHolder(), null, 2)}\n`;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    if (createExclusive(lockFile, content)) return keep(lockFile);
    const text = readText(lockFile);
    if (text === null) continue;
    const holder = parseHolder(text);
    if (holder && isOwn(holder)) {
      // Left by this very process (a module reloaded without its memory of the lock): still ours.
      return keep(lockFile);
    }
    if (holderState(holder, lockFile) === "alive") throw new DataDirLockedError(resolved, lockFile, holder);
    if (takeOver(lockFile, text, content)) return keep(lockFile);
  }
  throw new DataDirLockedError(resolved, lockFile, parseHolder(readText(lockFile) ?? ""));
}
