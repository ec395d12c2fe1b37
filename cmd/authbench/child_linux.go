package main

import "syscall"

// childAttr makes the kernel kill a started server if the harness dies
// without stopping it (killed, or crashed), so that no server is left
// running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
