import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  readdir,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { isRuntimeError } from "../errors.js";
import { makeTar, run, type TarEntry } from "./testing/test-images.js";
import { unpackLayer } from "./unpack.js";
import type { XattrSetter } from "./xattr.js";
import { hostXattrSetter } from "./xattr.js";

let work: string;
let n = 0;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "podrun-unpack-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Setup {
  /** The layer directory. */
  dest: string;
  /** A sibling of the layer directory standing in for "the host". */
  outside: string;
  blob: string;
  xattrs: { path: string; name: string; value: string }[];
  setXattr: XattrSetter;
}

async function setup(tar: Buffer, compress: "none" | "gzip" | "zstd" = "none"): Promise<Setup> {
  const base = join(work, `case-${++n}`);
  const dest = join(base, "root", "layer");
  const outside = join(base, "root", "etc");
  await mkdir(dest, { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, "passwd"), "host passwd\n");
  const blob = join(base, "blob");
  if (compress === "gzip") await writeFile(blob, gzipSync(tar));
  else if (compress === "zstd") {
    await writeFile(`${blob}.tar`, tar);
    await run("zstd", ["-q", "-o", blob, `${blob}.tar`]);
  } else await writeFile(blob, tar);
  const xattrs: Setup["xattrs"] = [];
  return {
    dest,
    outside,
    blob,
    xattrs,
    setXattr: (path, name, value) => {
      xattrs.push({ path, name, value });
      return Promise.resolve();
    },
  };
}

function diffId(tar: Buffer): string {
  return `sha256:${createHash("sha256").update(tar).digest("hex")}`;
}

async function assertOutsideUntouched(s: Setup): Promise<void> {
  assert.deepEqual((await readdir(s.outside)).sort(), ["passwd"]);
  assert.equal(await readFile(join(s.outside, "passwd"), "utf8"), "host passwd\n");
  assert.deepEqual((await readdir(join(s.dest, ".."))).sort(), ["etc", "layer"]);
}

async function assertRefused(entries: TarEntry[], entryName: string): Promise<Setup> {
  const tar = await makeTar(entries);
  const s = await setup(tar);
  await assert.rejects(unpackLayer(s.blob, s.dest, { setXattr: s.setXattr }), (err: unknown) => {
    assert.ok(isRuntimeError(err, "Failed"), String(err));
    assert.match(
      err.message,
      new RegExp(`unsafe layer entry "${entryName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`),
    );
    return true;
  });
  await assertOutsideUntouched(s);
  return s;
}

describe("unpackLayer", () => {
  test("unpacks files, dirs, symlinks, hard links, devices with owners, modes and mtimes", async () => {
    const mtime = new Date("2001-02-03T04:05:06Z");
    const tar = await makeTar([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "bin/", type: "directory", mode: 0o711, uid: 7, gid: 8, mtime },
      { name: "bin/tool", content: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0, mtime },
      { name: "bin/owned", content: "x", mode: 0o640, uid: 1000, gid: 1001 },
      { name: "bin/link", type: "link", linkname: "bin/tool" },
      { name: "etc/abs", type: "symlink", linkname: "/etc/passwd" },
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "run/fifo", type: "fifo", mode: 0o600 },
    ]);
    const s = await setup(tar, "gzip");
    const res = await unpackLayer(s.blob, s.dest, {
      setXattr: s.setXattr,
      expectedDiffId: diffId(tar),
    });
    assert.equal(res.diffId, diffId(tar));
    assert.equal(res.sizeBytes, tar.length);

    const tool = await stat(join(s.dest, "bin/tool"));
    assert.equal(tool.mode & 0o7777, 0o4755);
    assert.equal(tool.mtime.getTime(), mtime.getTime());
    assert.equal(await readFile(join(s.dest, "bin/tool"), "utf8"), "#!/bin/sh\n");
    const owned = await stat(join(s.dest, "bin/owned"));
    assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o7777], [1000, 1001, 0o640]);
    const link = await stat(join(s.dest, "bin/link"));
    assert.equal(link.ino, tool.ino);
    const bin = await stat(join(s.dest, "bin"));
    assert.deepEqual([bin.uid, bin.gid, bin.mode & 0o7777], [7, 8, 0o711]);
    assert.equal(bin.mtime.getTime(), mtime.getTime());
    assert.equal(await readlink(join(s.dest, "etc/abs")), "/etc/passwd");
    const dev = await lstat(join(s.dest, "dev/null"));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.ok((await lstat(join(s.dest, "run/fifo"))).isFIFO());
  });

  test("converts OCI whiteouts to overlayfs whiteouts and opaque directories", async () => {
    const tar = await makeTar([
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.removed", content: "" },
      { name: "var/cache/", type: "directory" },
      { name: "var/cache/.wh..wh..opq", content: "" },
      { name: "var/cache/kept", content: "same layer" },
    ]);
    const s = await setup(tar);
    await unpackLayer(s.blob, s.dest, { setXattr: s.setXattr });
    const wh = await lstat(join(s.dest, "etc/removed"));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.deepEqual(await readdir(join(s.dest, "etc")), ["removed"]);
    assert.deepEqual(s.xattrs, [
      { path: join(s.dest, "var/cache"), name: "trusted.overlay.opaque", value: "y" },
    ]);
    assert.deepEqual(await readdir(join(s.dest, "var/cache")), ["kept"]);
  });

  test("hostXattrSetter sets trusted.overlay.opaque on a real directory", async () => {
    const tar = await makeTar([{ name: "d/.wh..wh..opq", content: "" }]);
    const s = await setup(tar);
    await unpackLayer(s.blob, s.dest, { setXattr: hostXattrSetter() });
    const got = await run("python3", [
      "-c",
      "import os,sys; print(os.getxattr(sys.argv[1], 'trusted.overlay.opaque').decode())",
      join(s.dest, "d"),
    ]);
    assert.equal(got.trim(), "y");
  });

  test("keeps extended attributes from PAX headers, except overlayfs' own", async () => {
    const tar = await makeTar([
      { name: "d/", type: "directory", pax: { "SCHILY.xattr.user.dir": "on a dir" } },
      {
        name: "d/f",
        content: "data",
        pax: {
          "SCHILY.xattr.user.note": '0xnot-hex, "quoted" ünïcode',
          "SCHILY.xattr.trusted.overlay.redirect": "/elsewhere",
          "SCHILY.xattr.trusted.overlay.opaque": "y",
        },
      },
      { name: "plain", content: "no xattrs" },
    ]);
    const s = await setup(tar, "gzip");
    await unpackLayer(s.blob, s.dest, { setXattr: s.setXattr });
    assert.deepEqual(s.xattrs, [
      { path: join(s.dest, "d"), name: "user.dir", value: "on a dir" },
      { path: join(s.dest, "d/f"), name: "user.note", value: '0xnot-hex, "quoted" ünïcode' },
    ]);
    assert.equal(await readFile(join(s.dest, "d/f"), "utf8"), "data");

    // The host setter writes them byte for byte on the real file system.
    const real = await setup(tar);
    await unpackLayer(real.blob, real.dest, { setXattr: hostXattrSetter() });
    const got = await run("python3", [
      "-c",
      "import os,sys; print(os.getxattr(sys.argv[1], 'user.note').hex()); print(sorted(os.listxattr(sys.argv[1])))",
      join(real.dest, "d/f"),
    ]);
    const [hex, names] = got.trim().split("\n");
    assert.equal(Buffer.from(hex ?? "", "hex").toString(), '0xnot-hex, "quoted" ünïcode');
    assert.equal(names, "['user.note']");
  });

  test("reads zstd-compressed layers", async () => {
    const tar = await makeTar([{ name: "hello", content: "zstd works" }]);
    const s = await setup(tar, "zstd");
    const res = await unpackLayer(s.blob, s.dest, { setXattr: s.setXattr });
    assert.equal(res.diffId, diffId(tar));
    assert.equal(await readFile(join(s.dest, "hello"), "utf8"), "zstd works");
  });

  test("fails on a diff id mismatch", async () => {
    const tar = await makeTar([{ name: "a", content: "a" }]);
    const s = await setup(tar, "gzip");
    const wrong = `sha256:${"0".repeat(64)}`;
    await assert.rejects(
      unpackLayer(s.blob, s.dest, { setXattr: s.setXattr, expectedDiffId: wrong }),
      (err: unknown) => isRuntimeError(err, "Failed") && err.message.includes(wrong),
    );
  });

  test("replaces a symlink at the entry's own name instead of writing through it", async () => {
    const tar = await makeTar([
      { name: "passwd", type: "symlink", linkname: "../etc/passwd" },
      { name: "passwd", content: "layer file" },
    ]);
    const s = await setup(tar);
    await unpackLayer(s.blob, s.dest, { setXattr: s.setXattr });
    assert.ok((await lstat(join(s.dest, "passwd"))).isFile());
    assert.equal(await readFile(join(s.dest, "passwd"), "utf8"), "layer file");
    await assertOutsideUntouched(s);
  });

  describe("hostile entries fail the whole layer and leave the host untouched", () => {
    test("a name with .. components", async () => {
      await assertRefused(
        [
          { name: "ok", content: "" },
          { name: "../etc/x", content: "evil" },
        ],
        "../etc/x",
      );
    });

    test("a name hidden behind a harmless prefix: a/../../etc/x", async () => {
      await assertRefused([{ name: "a/../../etc/x", content: "evil" }], "a/../../etc/x");
    });

    test("an absolute name", async () => {
      await assertRefused([{ name: "/abs", content: "evil" }], "/abs");
      await assert.rejects(lstat("/abs"));
    });

    test("a symlink to the outside, then a write through it", async () => {
      await assertRefused(
        [
          { name: "evil", type: "symlink", linkname: "../etc" },
          { name: "evil/x", content: "evil" },
        ],
        "evil/x",
      );
    });

    test("a symlink to an absolute host directory, then a write through it", async () => {
      const s = await assertRefused(
        [
          { name: "sub/", type: "directory" },
          { name: "sub/hostetc", type: "symlink", linkname: "/etc" },
          { name: "sub/hostetc/podrun-unpack-test", content: "evil" },
        ],
        "sub/hostetc/podrun-unpack-test",
      );
      await assert.rejects(lstat("/etc/podrun-unpack-test"));
      assert.ok(s);
    });

    test("a directory already written into, replaced by a symlink, then written through", async () => {
      const s = await assertRefused(
        [
          { name: "a/", type: "directory" },
          { name: "a/b/", type: "directory" },
          { name: "a/b/x", content: "fine" },
          { name: "a", type: "symlink", linkname: "../etc" },
          { name: "a/b/y", content: "evil" },
        ],
        "a/b/y",
      );
      assert.equal(await readlink(join(s.dest, "a")), "../etc");
    });

    test("a whiteout through a symlink", async () => {
      await assertRefused(
        [
          { name: "evil", type: "symlink", linkname: "../etc" },
          { name: "evil/.wh.passwd", content: "" },
        ],
        "evil/.wh.passwd",
      );
    });

    test("a hard link to /etc/shadow", async () => {
      await assertRefused([{ name: "shadow", type: "link", linkname: "/etc/shadow" }], "shadow");
    });

    test("a hard link to ../etc/passwd", async () => {
      await assertRefused([{ name: "pw", type: "link", linkname: "../etc/passwd" }], "pw");
    });

    test("a hard link through a symlink to the outside", async () => {
      const s = await assertRefused(
        [
          { name: "e", type: "symlink", linkname: "../etc" },
          { name: "pw", type: "link", linkname: "e/passwd" },
        ],
        "pw",
      );
      await assert.rejects(lstat(join(s.dest, "pw")));
    });

    test("a hard link to a file not in the layer", async () => {
      await assertRefused([{ name: "pw", type: "link", linkname: "missing" }], "pw");
    });
  });

  test("directory metadata is not applied through a parent replaced by a symlink", async () => {
    const tar = await makeTar([
      { name: "a/", type: "directory" },
      { name: "a/b/", type: "directory", mode: 0o700 },
      { name: "a", type: "symlink", linkname: "../etc" },
    ]);
    const s = await setup(tar);
    const before = await stat(s.outside);
    await unpackLayer(s.blob, s.dest, { setXattr: s.setXattr });
    assert.equal(await readlink(join(s.dest, "a")), "../etc");
    const afterSt = await stat(s.outside);
    assert.equal(afterSt.mode, before.mode);
    await assertOutsideUntouched(s);
  });
});
