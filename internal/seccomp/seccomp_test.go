package seccomp

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

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
	if err != nil || !strings.Contains(string(out), "unshare=operation not permitted mount=operation not permitted ptrace=operation not permitted bpf=operation not permitted keyctl=operation not permitted clone3=function not implemented exec=ok") {
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
		" exec=" + execRes + "\n")
}
