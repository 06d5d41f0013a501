/**
 * A small python3 program that bridges the two kinds of streams Node cannot open itself, run
 * as a child with plain pipes: fd 0 → the target's input, target output → fd 1 (and fd 2 for
 * an attach's stderr), and resize requests (`<width> <height>\n`) on fd 3.
 *
 * Why a helper: `runc exec -t --console-socket` hands the pty master over a unix socket with
 * SCM_RIGHTS (and only when detached), and conmon's attach socket is SOCK_SEQPACKET; Node's `net` supports neither,
 * while python3's standard library does both (`socket.recv_fds`, `SOCK_SEQPACKET`).
 *
 * Modes (argv after the script):
 * - `exec STDIN(0|1) - RUNC_ARGV...`: runs `runc exec -t` in the foreground on a host pty
 *   (runc refuses `--console-socket` unless it detaches, which loses the exit code), bridges
 *   that pty's master and exits with runc's exit code, i.e. the exec'd process's. Resizes
 *   set the host pty's size; the kernel's SIGWINCH makes runc resize the container's pty.
 * - `attach STDIN(0|1) ATTACH_SOCKET CTL_FIFO`: connects to conmon's attach socket (packets are
 *   one pipe byte, 1 = stdout / 2 = stderr, then data; writes go to the container's stdin),
 *   sends resizes to conmon's ctl fifo (`1 <height> <width>`, one at a time: conmon 2.1.6 reads
 *   only the first line of each read), exits 0 when conmon closes it.
 */
export const STREAM_HELPER_PY = String.raw`
import fcntl, os, select, socket, struct, subprocess, sys, termios

mode, want_stdin, target = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
ctl_open = True
ctl_buf = b""

def write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]

def sizes():
    global ctl_buf, ctl_open
    d = os.read(3, 4096)
    if not d:
        ctl_open = False
        return []
    ctl_buf += d
    out = []
    while b"\n" in ctl_buf:
        line, ctl_buf = ctl_buf.split(b"\n", 1)
        w, h = (int(x) for x in line.split())
        out.append((w, h))
    return out

if mode == "exec":
    # runc only hands out the pty master when it detaches (and then cannot report the exit
    # code), so runc runs in the foreground on a host pty whose master is bridged here: runc
    # copies between it and the container's pty and follows its size on SIGWINCH.
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen(sys.argv[4:], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True,
                         preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)

    def resize(w, h):
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))

    stdin_open = want_stdin
    while True:
        rl = [master] + ([0] if stdin_open else []) + ([3] if ctl_open else [])
        r, _, _ = select.select(rl, [], [], 0.2)
        if master in r:
            try:
                d = os.read(master, 65536)
            except OSError:
                d = b""
            if not d:
                break
            write_all(1, d)
        if 0 in r:
            d = os.read(0, 65536)
            if d:
                write_all(master, d)
            else:
                stdin_open = False
        if 3 in r:
            for s in sizes():
                resize(*s)
        # Output still buffered in the pty was read above; a background child that keeps the
        # slave open must not keep the session alive after the process exited.
        if not r and p.poll() is not None:
            break
    rc = p.wait()
    sys.exit(rc if rc >= 0 else 128 - rc)

sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.connect(target)
ctl_path = sys.argv[4]
stdin_open = want_stdin
# conmon 2.1.6 parses only the first line of each read of its ctl fifo, so two resizes that
# meet in the fifo (kubectl sends width+1/height+1 and then the real size at once) would
# leave the first one applied. Only the latest size is kept and written once the fifo is empty.
pending = None
ctl_fd = None

def flush_resize():
    global pending, ctl_fd
    if pending is None:
        return
    try:
        if ctl_fd is None:
            ctl_fd = os.open(ctl_path, os.O_WRONLY | os.O_NONBLOCK)
        if struct.unpack("i", fcntl.ioctl(ctl_fd, termios.FIONREAD, b"\0\0\0\0"))[0] > 0:
            return
        w, h = pending
        os.write(ctl_fd, ("1 %d %d\n" % (h, w)).encode())
    except OSError:
        # conmon is gone (the container exited): the session is ending anyway.
        pass
    pending = None

while True:
    rl = [sock] + ([0] if stdin_open else []) + ([3] if ctl_open else [])
    r, _, _ = select.select(rl, [], [], 0.01 if pending is not None else None)
    if sock in r:
        d = sock.recv(65537)
        if not d:
            break
        write_all(2 if d[0] == 2 else 1, d[1:])
    if 0 in r:
        d = os.read(0, 65536)
        if d:
            sock.sendall(d)
        else:
            stdin_open = False
            sock.shutdown(socket.SHUT_WR)
    if 3 in r:
        for s in sizes():
            pending = s
    flush_resize()
sys.exit(0)
`;
