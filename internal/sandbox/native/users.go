package native

import "syscall"

// innerID is the uid and gid the program has inside its user namespace.
// The keeper itself is uid 0 there, mapped to an unprivileged host uid.
const innerID = 1000

// idMaps maps a slot's user namespace: uid (or gid) 0 inside is the
// keeper's host id, innerID the program's; nothing else is mapped, so no
// other host id (root's least of all) exists inside.
func idMaps(program, keeper int) []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: keeper, Size: 1}, {ContainerID: innerID, HostID: program, Size: 1}}
}
