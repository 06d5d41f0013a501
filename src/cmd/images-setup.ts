// Images a node needs before any pull: the sandbox image (always built from the host's
// catatonit) and whatever archives were dropped into DATA_DIR/images/preload/ (air-gapped
// installs, tests). Offline machines also get a busybox image for the examples.
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { ImageService } from "../runtime/index.js";
import type { Logger } from "../util/index.js";
import { PAUSE_IMAGE, buildBusyboxImage, buildPauseImage } from "./builtin-images.js";

/** Imports the pause image (built on first use) and every archive in `preloadDir`. */
export async function ensureNodeImages(
  images: ImageService,
  dataDir: string,
  logger: Logger,
): Promise<void> {
  if ((await images.imageStatus(PAUSE_IMAGE)) === undefined) {
    const file = path.join(dataDir, "images/builtin/pause.oci.tar");
    await buildPauseImage(file);
    await images.importImages(file);
    logger.info("pause image built from catatonit", { image: PAUSE_IMAGE });
  }
  const preload = path.join(dataDir, "images/preload");
  if (!existsSync(preload)) return;
  for (const f of (await readdir(preload)).sort()) {
    if (!/\.(tar|tar\.gz|tgz)$/.test(f) && !existsSync(path.join(preload, f, "index.json")))
      continue;
    const ids = await images.importImages(path.join(preload, f));
    logger.info("preloaded images imported", { file: f, images: ids.length });
  }
}

/**
 * Makes `ref` (a busybox reference the examples use) available: pulled when a registry
 * answers, otherwise built from the host's busybox-static.
 */
export async function ensureExampleImage(
  images: ImageService,
  dataDir: string,
  ref: string,
  logger: Logger,
): Promise<void> {
  if ((await images.imageStatus(ref)) !== undefined) return;
  try {
    await images.pullImage(ref, { signal: AbortSignal.timeout(15_000) });
    return;
  } catch (err) {
    // Offline machine (the common case for first runs here): fall back to the host binary.
    logger.info("pull failed; building busybox from the host's busybox-static", {
      image: ref,
      err,
    });
  }
  const file = path.join(dataDir, "images/builtin/busybox.oci.tar");
  await buildBusyboxImage(file);
  await images.importImages(file);
}
