// Issue 5 volume gaps: emptyDir sizeLimit enforced by eviction (PL-VOL-3) and fsGroup ownership
// of pod volumes (PL-VOL-6), observed only through kubectl (status, events, container logs).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { poll, startCluster, type Cluster } from "./harness.js";

const SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done";
/** A YAML flow sequence (JSON) for `sh -c <script>`. */
const sh = (script: string): string => JSON.stringify(["sh", "-c", script]);

describe("pod volumes", { concurrency: 3 }, () => {
  let c: Cluster;
  before(async () => {
    // Default sync period (1 min): the sizeLimit check must come from its own periodic pass.
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  const apply = (yaml: string): Promise<string> => c.k(["apply", "-f", "-"], { input: yaml });
  const get = (name: string, jsonpath: string): Promise<string> =>
    c.k(["get", "pod", name, "-o", `jsonpath=${jsonpath}`]);
  const events = (name: string): Promise<string> =>
    c.k([
      "get",
      "events",
      "--field-selector",
      `involvedObject.name=${name}`,
      "-o",
      'jsonpath={range .items[*]}{.type} {.reason} {.message}{"\\n"}{end}',
    ]);
  const waitLogs = (name: string, re: RegExp, timeoutMs = 60_000): Promise<string> =>
    poll(
      `logs of ${name} matching ${String(re)}`,
      async () => {
        const out = await c.k(["logs", name]);
        return re.test(out) ? out : undefined;
      },
      timeoutMs,
    );

  test("PL-VOL-3 emptyDir usage above sizeLimit evicts the pod; usage below it does not", async () => {
    const pod = (name: string, mb: number): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 60
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(`dd if=/dev/urandom of=/scratch/blob bs=1048576 count=${String(mb)} && sync && echo written && ${SLEEP.replace("exit 0", ":")}`)}
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes:
  - name: scratch
    emptyDir: {sizeLimit: 4Mi}
`;
    await apply(pod("vol-over", 8));
    await apply(pod("vol-under", 1));
    await waitLogs("vol-over", /written/);
    await waitLogs("vol-under", /written/);

    // The pod ignores SIGTERM and asks for 60 s of grace: only the eviction's own short grace
    // ends it this quickly.
    await c.waitFor("pod/vol-over", "{.status.phase}", "Failed", 45_000);
    assert.equal(await get("vol-over", "{.status.reason}"), "Evicted");
    assert.equal(
      await get("vol-over", "{.status.message}"),
      'Usage of EmptyDir volume "scratch" exceeds the limit "4Mi". ',
    );
    const ev = await events("vol-over");
    assert.match(
      ev,
      /^Warning Evicted Usage of EmptyDir volume "scratch" exceeds the limit "4Mi"\. ?$/m,
    );
    await c.waitFor(
      "pod/vol-over",
      "{.status.containerStatuses[0].state.terminated.exitCode}",
      /^\d+$/,
      20_000,
    );
    // The pod under its limit has been checked by now and keeps running.
    assert.equal(await get("vol-under", "{.status.phase}"), "Running");
    assert.doesNotMatch(await events("vol-under"), /Evicted/);
    await c.k(["delete", "pod", "vol-over", "vol-under", "--wait=false"]);
  });

  test("PL-VOL-3 a memory emptyDir is a tmpfs sized to its sizeLimit", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: vol-mem}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(`dd if=/dev/zero of=/m/blob bs=1048576 count=8; echo "dd=$?"; df -k /m | tail -1; ${SLEEP}`)}
    volumeMounts: [{name: m, mountPath: /m}]
  volumes:
  - name: m
    emptyDir: {medium: Memory, sizeLimit: 2Mi}
`);
    const out = await waitLogs("vol-mem", /dd=\d+\n\S+\s+\d+/);
    assert.match(out, /No space left on device/);
    assert.match(out, /dd=1/);
    // df: filesystem type tmpfs, 2048 KiB total.
    assert.match(out, /^tmpfs\s+2048\s/m);
    await c.k(["delete", "pod", "vol-mem", "--wait=false"]);
  });

  test("PL-VOL-6 fsGroup owns emptyDir, configMap and secret volumes and is a supplemental group", async () => {
    await apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: fsg-cm}
data: {key: value}
---
apiVersion: v1
kind: Secret
metadata: {name: fsg-secret}
stringData: {token: s3cr3t}
---
apiVersion: v1
kind: Pod
metadata: {name: vol-fsgroup}
spec:
  securityContext: {fsGroup: 2345, fsGroupChangePolicy: OnRootMismatch}
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(
      [
        "id",
        "echo hi > /data/made-by-app",
        "mkdir /data/sub",
        'echo "file $(stat -c "%g" /data/made-by-app)"',
        'echo "subdir $(stat -c "%g %A" /data/sub)"',
        'echo "root $(stat -c "%g %A" /data)"',
        'echo "cm $(stat -Lc "%g %a" /cm/key)"',
        'echo "secret $(stat -Lc "%g %a" /secret/token)"',
        'echo "memory $(stat -c "%g %A" /mem)"',
        "echo done",
        SLEEP,
      ].join("; "),
    )}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
    - {name: cm, mountPath: /cm}
    - {name: secret, mountPath: /secret}
  volumes:
  - {name: data, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  - {name: cm, configMap: {name: fsg-cm}}
  - {name: secret, secret: {secretName: fsg-secret, defaultMode: 0400}}
`);
    const out = await waitLogs("vol-fsgroup", /^done$/m);
    // `id` lists fsGroup among the groups of the container's process.
    assert.match(out, /^uid=0\(root\) gid=0\(root\) groups=.*\b2345\b/m);
    // New files and directories in an emptyDir inherit the group through the setgid bit.
    assert.match(out, /^file 2345$/m);
    assert.match(out, /^subdir 2345 drwxr-sr-x$/m);
    assert.match(out, /^root 2345 drwxrwsrwx$/m);
    assert.match(out, /^memory 2345 drwxrwsrwx$/m);
    // Projected files get the group and group read (0400 becomes 0440, as upstream).
    assert.match(out, /^cm 2345 644$/m);
    assert.match(out, /^secret 2345 440$/m);
    await c.k(["delete", "pod", "vol-fsgroup", "--wait=false"]);
    await c.k(["delete", "configmap", "fsg-cm"]);
    await c.k(["delete", "secret", "fsg-secret"]);
  });
});
