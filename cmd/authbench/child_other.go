//go:build !linux

package main

import "syscall"

// childAttr has nothing to add outside Linux, where the harness measures
// no CPU (it reads /proc) but still drives the load.
func childAttr() *syscall.SysProcAttr { return nil }
