package seccomp

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestPolicy(t *testing.T) {
	prog, err := Filter()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) == 0 || len(prog) > 4096 {
		t.Fatalf("%d instructions", len(prog))
	}
	for _, name := range Denied() {
		if slices.Contains(allowed, name) {
			t.Errorf("%s is denied but in the allow-list", name)
		}
	}
}

// TestEnforced installs the filter in a child process and tries the
// denied calls for real.
func TestEnforced(t *testing.T) {
	if os.Getenv("SECCOMP_CHILD") == "1" {
		enforcedChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnforced$")
	cmd.Env = append(os.Environ(), "SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "unshare=operation not permitted mount=operation not permitted ptrace=operation not permitted bpf=operation not permitted keyctl=operation not permitted clone3=function not implemented exec=ok unix=allowed uevent=protocol not supported vsock=address family not supported by protocol") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func enforcedChild() {
	runtime.LockOSThread()
	prog, err := Filter()
	if err == nil {
		err = InstallThread(prog)
	}
	if err != nil {
		panic(err)
	}
	try := func(nr uintptr, a ...uintptr) string {
		a = append(a, 0, 0, 0)
		_, _, e := unix.RawSyscall(nr, a[0], a[1], a[2])
		if e == 0 {
			return "allowed"
		}
		return e.Error()
	}
	execRes := "ok"
	if err := exec.Command("/bin/true").Run(); err != nil {
		execRes = err.Error()
	}
	os.Stdout.WriteString("unshare=" + try(unix.SYS_UNSHARE, unix.CLONE_NEWUSER) +
		" mount=" + try(unix.SYS_MOUNT) +
		" ptrace=" + try(unix.SYS_PTRACE, unix.PTRACE_TRACEME) +
		" bpf=" + try(unix.SYS_BPF) +
		" keyctl=" + try(unix.SYS_KEYCTL) +
		" clone3=" + try(unix.SYS_CLONE3) +
		" exec=" + execRes +
		// The kernel always has netlink's uevents, so only the filter
		// refuses them; AF_VSOCK is refused alike with or without vsock.
		" unix=" + try(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM) +
		" uevent=" + try(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_KOBJECT_UEVENT) +
		" vsock=" + try(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM) + "\n")
}

// verdict runs the installed program on one call, as the kernel hands it
// over, and returns the filter's answer. It answers the same on every
// kernel, which a real call cannot: a kernel without vsock refuses
// AF_VSOCK by itself.
type verdict func(arch uint32, nr int, args ...uint64) uint32

func filterVM(t *testing.T) verdict {
	t.Helper()
	prog, err := Filter()
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, ins := range prog {
		raw[i] = bpf.RawInstruction{Op: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("the filter does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	little := probe[0] == 1
	return func(arch uint32, nr int, args ...uint64) uint32 {
		// struct seccomp_data: nr, arch, instruction_pointer, args[6].
		// The kernel loads its words in host order, the VM big-endian:
		// each word goes big-endian where the kernel keeps it.
		data := make([]byte, 64)
		binary.BigEndian.PutUint32(data[0:], uint32(nr))
		binary.BigEndian.PutUint32(data[4:], arch)
		for i, a := range args {
			lo, hi := 16+8*i, 16+8*i+4
			if !little {
				lo, hi = hi, lo
			}
			binary.BigEndian.PutUint32(data[lo:], uint32(a))
			binary.BigEndian.PutUint32(data[hi:], uint32(a>>32))
		}
		out, err := vm.Run(data)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(out)
	}
}

func answer(v uint32) string {
	if v == retAllow {
		return "allow"
	}
	if v&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
		return unix.ErrnoName(syscall.Errno(v & unix.SECCOMP_RET_DATA))
	}
	return fmt.Sprintf("%#x", v)
}

// TestSocketFamilies: a program may make only the sockets a sandbox
// without network uses — AF_UNIX, TCP and UDP over AF_INET and AF_INET6
// (only lo is there), and AF_NETLINK's NETLINK_ROUTE (interface queries).
// Any other family answers EAFNOSUPPORT and any other protocol
// EPROTONOSUPPORT, as from a kernel built without them.
func TestSocketFamilies(t *testing.T) {
	decide := filterVM(t)
	native, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	id := uint32(native.ID)
	sys := func(name string) int {
		nr, ok := native.SyscallNames[name]
		if !ok {
			t.Fatalf("no %s on %s", name, native.Name)
		}
		return nr
	}
	socket, socketpair := sys("socket"), sys("socketpair")
	stream, dgram, flags := uint64(unix.SOCK_STREAM), uint64(unix.SOCK_DGRAM), uint64(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	type call struct {
		name string
		nr   int
		args []uint64
		want uint32
	}
	cases := []call{
		{"unix stream", socket, []uint64{unix.AF_UNIX, stream, 0}, retAllow},
		{"unix seqpacket", socket, []uint64{unix.AF_UNIX, unix.SOCK_SEQPACKET | flags, 0}, retAllow},
		{"inet tcp", socket, []uint64{unix.AF_INET, stream | flags, 0}, retAllow},
		{"inet tcp by number", socket, []uint64{unix.AF_INET, stream, unix.IPPROTO_TCP}, retAllow},
		{"inet udp", socket, []uint64{unix.AF_INET, dgram, unix.IPPROTO_UDP}, retAllow},
		{"inet6 tcp", socket, []uint64{unix.AF_INET6, stream | flags, 0}, retAllow},
		{"inet6 udp", socket, []uint64{unix.AF_INET6, dgram, 0}, retAllow},
		{"inet raw", socket, []uint64{unix.AF_INET, unix.SOCK_RAW, 0}, retAllow}, // the kernel wants CAP_NET_RAW
		{"netlink route", socket, []uint64{unix.AF_NETLINK, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}, retAllow},
		{"inet sctp", socket, []uint64{unix.AF_INET, stream, unix.IPPROTO_SCTP}, retErrno(unix.EPROTONOSUPPORT)},
		{"inet seqpacket", socket, []uint64{unix.AF_INET, unix.SOCK_SEQPACKET, 0}, retErrno(unix.EPROTONOSUPPORT)},
		{"inet6 dccp", socket, []uint64{unix.AF_INET6, unix.SOCK_DCCP, unix.IPPROTO_DCCP}, retErrno(unix.EPROTONOSUPPORT)},
		{"inet mptcp", socket, []uint64{unix.AF_INET, stream, unix.IPPROTO_MPTCP}, retErrno(unix.EPROTONOSUPPORT)},
		{"inet ping", socket, []uint64{unix.AF_INET, dgram, unix.IPPROTO_ICMP}, retErrno(unix.EPROTONOSUPPORT)},
		{"inet packet", socket, []uint64{unix.AF_INET, unix.SOCK_PACKET, 0}, retErrno(unix.EPROTONOSUPPORT)},
		{"netlink uevent", socket, []uint64{unix.AF_NETLINK, dgram, unix.NETLINK_KOBJECT_UEVENT}, retErrno(unix.EPROTONOSUPPORT)},
		{"netlink generic", socket, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_GENERIC}, retErrno(unix.EPROTONOSUPPORT)},
		{"netlink sock_diag", socket, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_SOCK_DIAG}, retErrno(unix.EPROTONOSUPPORT)},
		{"netlink audit", socket, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}, retErrno(unix.EPROTONOSUPPORT)},
		// The kernel reads an int; the filter compares all 64 bits.
		{"unix with high bits", socket, []uint64{1<<32 | unix.AF_UNIX, stream, 0}, retErrno(unix.EAFNOSUPPORT)},
		{"inet with high protocol bits", socket, []uint64{unix.AF_INET, stream, 1 << 32}, retErrno(unix.EPROTONOSUPPORT)},
		// A refused argument that equals another call's number must not
		// be taken for that call (the library's conditions did).
		{"family that reads as clone", socket, []uint64{uint64(sys("clone")), stream, 0}, retErrno(unix.EAFNOSUPPORT)},
		{"protocol that reads as clone", socket, []uint64{unix.AF_INET, stream, uint64(sys("clone"))}, retErrno(unix.EPROTONOSUPPORT)},
		{"protocol that reads as socketpair", socket, []uint64{unix.AF_INET, stream, uint64(socketpair)}, retErrno(unix.EPROTONOSUPPORT)},
		{"socketpair unix", socketpair, []uint64{unix.AF_UNIX, stream, 0}, retAllow},
		{"socketpair inet", socketpair, []uint64{unix.AF_INET, stream, 0}, retErrno(unix.EAFNOSUPPORT)},
		{"socketpair tipc", socketpair, []uint64{unix.AF_TIPC, unix.SOCK_SEQPACKET, 0}, retErrno(unix.EAFNOSUPPORT)},
		{"socketpair vsock", socketpair, []uint64{unix.AF_VSOCK, stream, 0}, retErrno(unix.EAFNOSUPPORT)},
	}
	// Every other family, known or not yet.
	for family := uint64(0); family < 64; family++ {
		switch family {
		case unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK:
			continue
		}
		cases = append(cases, call{fmt.Sprintf("family %d", family), socket, []uint64{family, stream, 0}, retErrno(unix.EAFNOSUPPORT)})
	}
	for _, c := range cases {
		if got := decide(id, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, answer(got), answer(c.want))
		}
	}
	if native.ID == arch.X86_64.ID {
		// The other ABIs of an x86-64 kernel reach no socket at all.
		i386 := uint32(arch.I386.ID)
		for _, name := range []string{"socket", "socketcall"} {
			if got := decide(i386, arch.I386.SyscallNames[name], unix.AF_VSOCK, unix.SOCK_STREAM, 0); got != retErrno(unix.EPERM) {
				t.Errorf("i386 %s: %s, want EPERM", name, answer(got))
			}
		}
		if got := decide(id, arch.X32.SyscallNames["socket"]|arch.X32.SeccompMask, unix.AF_VSOCK, unix.SOCK_STREAM, 0); got != retErrno(unix.ENOSYS) {
			t.Errorf("x32 socket: %s, want ENOSYS", answer(got))
		}
	}
}

// TestDecisions checks the whole policy on the filter itself: the
// allow-list, the refusals, and the calls allowed only with some
// arguments.
func TestDecisions(t *testing.T) {
	decide := filterVM(t)
	native, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	id := uint32(native.ID)
	for _, name := range allowed {
		if got := decide(id, native.SyscallNames[name]); got != retAllow {
			t.Errorf("%s: %s, want allow", name, answer(got))
		}
	}
	for _, name := range Denied() {
		nr, ok := native.SyscallNames[name]
		if !ok {
			t.Errorf("%s: no such call on %s", name, native.Name)
		}
		if got := decide(id, nr); got != retErrno(unix.EPERM) {
			t.Errorf("%s: %s, want EPERM", name, answer(got))
		}
	}
	clone, personality := native.SyscallNames["clone"], native.SyscallNames["personality"]
	const thread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	for _, c := range []struct {
		name string
		nr   int
		arg  uint64
		want uint32
	}{
		{"fork by clone", clone, uint64(unix.SIGCHLD), retAllow},
		{"thread by clone", clone, thread, retAllow},
		{"clone newuser", clone, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), retErrno(unix.EPERM)},
		{"clone newnet", clone, unix.CLONE_NEWNET, retErrno(unix.EPERM)},
		{"clone newns", clone, unix.CLONE_NEWNS, retErrno(unix.EPERM)},
		{"clone newpid", clone, unix.CLONE_NEWPID, retErrno(unix.EPERM)},
		{"clone newipc", clone, unix.CLONE_NEWIPC, retErrno(unix.EPERM)},
		{"clone newuts", clone, unix.CLONE_NEWUTS, retErrno(unix.EPERM)},
		{"clone newcgroup", clone, unix.CLONE_NEWCGROUP, retErrno(unix.EPERM)},
		{"clone3", native.SyscallNames["clone3"], 0, retErrno(unix.ENOSYS)},
		{"personality query", personality, 0xffffffff, retAllow},
		{"personality linux", personality, 0, retAllow},
		{"personality addr_no_randomize", personality, 0x0040000, retErrno(unix.EPERM)},
		{"personality read_implies_exec", personality, 0x0400000, retErrno(unix.EPERM)},
		{"personality linux32", personality, 8, retErrno(unix.EPERM)},
		// A refused argument that equals another call's number must not
		// be taken for that call (the library's conditions did).
		{"clone with flags that read as clone3", clone, uint64(native.SyscallNames["clone3"]) | unix.CLONE_NEWTIME, retErrno(unix.EPERM)},
		{"personality that reads as clone3", personality, uint64(native.SyscallNames["clone3"]), retErrno(unix.EPERM)},
	} {
		if got := decide(id, c.nr, c.arg); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, answer(got), answer(c.want))
		}
	}
}
