//go:build unix && !linux

package main

import "syscall"

// sysProcAttr: outside Linux the child stays in the wrapper's process group (a terminal's Ctrl-C
// then reaches it directly as well as through the wrapper).
func sysProcAttr() *syscall.SysProcAttr { return nil }
