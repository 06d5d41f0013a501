/** Setting extended attributes, which Node cannot do itself: `setfattr` or python3's os.setxattr. */
import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { RuntimeError } from "../errors.js";

/** Sets the extended attribute `name` of `path` (not following a final symlink) to `value`. */
export type XattrSetter = (path: string, name: string, value: string) => Promise<void>;

async function findProgram(name: string, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      // Not in this PATH entry; keep looking.
    }
  }
  return undefined;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      if (err === null) {
        resolve();
        return;
      }
      const exitCode = typeof err.code === "number" ? err.code : undefined;
      reject(
        new RuntimeError("Failed", `${cmd} failed`, {
          cause: err,
          command: [cmd, ...args],
          ...(exitCode === undefined ? {} : { exitCode }),
          stderr: stderr.slice(-2000),
        }),
      );
    });
  });
}

const PY_SETXATTR =
  "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)";

/**
 * The host's xattr setter: `setfattr -h` from the attr package when installed, else
 * `python3 -c os.setxattr(…)`. Which one is chosen once, on first use. Fails with RuntimeError
 * Failed when neither exists.
 */
export function hostXattrSetter(pathEnv = "/usr/sbin:/usr/bin:/sbin:/bin"): XattrSetter {
  let chosen: Promise<XattrSetter> | undefined;
  const choose = async (): Promise<XattrSetter> => {
    const setfattr = await findProgram("setfattr", pathEnv);
    if (setfattr !== undefined) {
      // Hex, because setfattr reads a value starting with 0x, 0s or a quote as an encoding.
      return (path, name, value) =>
        run(setfattr, [
          "-h",
          "-n",
          name,
          "-v",
          `0x${Buffer.from(value).toString("hex")}`,
          "--",
          path,
        ]);
    }
    const python = await findProgram("python3", pathEnv);
    if (python !== undefined) {
      return (path, name, value) => run(python, ["-c", PY_SETXATTR, path, name, value]);
    }
    return () =>
      Promise.reject(
        new RuntimeError("Failed", "cannot set extended attributes: neither setfattr nor python3"),
      );
  };
  return async (path, name, value) => {
    chosen ??= choose();
    const set = await chosen;
    await set(path, name, value);
  };
}

/** Runs `mknod` (coreutils) with `args`. */
export function mknod(args: string[]): Promise<void> {
  return run("mknod", args);
}
