import type { Container, Pod, ServiceAccount, Volume } from "../api/index.js";

/** Where upstream mounts the service-account token volume in every container. */
export const SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";
/** Name prefix of the injected volume (upstream ServiceAccountVolumeName + "-"). */
export const TOKEN_VOLUME_PREFIX = "kube-api-access-";
/** Token lifetime the injected projection asks for (upstream WarnOnlyBoundTokenExpirationSeconds). */
export const INJECTED_TOKEN_EXPIRATION_SECONDS = 3607;
/** Annotation that marks a mirror pod; the admission plugin leaves those alone. */
const MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror";

/** The projected volume source upstream injects (admission TokenVolumeSource). */
export function tokenVolumeSource(): NonNullable<Volume["projected"]> {
  return {
    // Upstream sets the default explicitly so that the stored pod round-trips (kubernetes#104464).
    defaultMode: 420,
    sources: [
      {
        serviceAccountToken: {
          expirationSeconds: INJECTED_TOKEN_EXPIRATION_SECONDS,
          path: "token",
        },
      },
      { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
      {
        downwardAPI: {
          items: [
            { path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } },
          ],
        },
      },
    ],
  };
}

/** Upstream shouldAutomount: the pod's setting wins, then the ServiceAccount's, then true. */
export function shouldAutomount(pod: Pod, sa: ServiceAccount): boolean {
  return pod.spec.automountServiceAccountToken ?? sa.automountServiceAccountToken ?? true;
}

/**
 * The ServiceAccount admission plugin's mutation on pod create (upstream
 * plugin/pkg/admission/serviceaccount, mountServiceAccountToken), in place: unless
 * automounting is off or the pod is a mirror pod, every init container and container without
 * a mount at {@link SERVICE_ACCOUNT_MOUNT_PATH} gets a read-only mount of the token volume,
 * and the volume `kube-api-access-<suffix>` is added when some container needs it and the pod
 * has none yet. Ephemeral containers are never touched. `suffix` is the random 5-character
 * name suffix. Returns true when the pod changed.
 */
export function injectServiceAccountToken(pod: Pod, sa: ServiceAccount, suffix: string): boolean {
  if (pod.metadata.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return false;
  if (!shouldAutomount(pod, sa)) return false;
  const existing = (pod.spec.volumes ?? []).find((v) => v.name.startsWith(TOKEN_VOLUME_PREFIX));
  const volumeName = existing?.name ?? `${TOKEN_VOLUME_PREFIX}${suffix}`;
  const mount = (c: Container): boolean => {
    const mounts = c.volumeMounts ?? [];
    // An existing mount at the path (e.g. a user's own token volume) prevents injection.
    if (mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH)) return false;
    c.volumeMounts = [
      ...mounts,
      { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH },
    ];
    return true;
  };
  let needsVolume = false;
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    if (mount(c)) needsVolume = true;
  }
  if (existing === undefined && needsVolume) {
    pod.spec.volumes = [
      ...(pod.spec.volumes ?? []),
      { name: volumeName, projected: tokenVolumeSource() },
    ];
  }
  return needsVolume;
}
