package main

import (
	"os"
	"syscall"
	"unsafe"
)

// sysProcAttr puts the child in its own process group, so it receives each signal once (the one
// the wrapper forwards). When stdin is a terminal the child's group becomes the terminal's
// foreground group: it keeps reading the terminal, and Ctrl-C reaches it directly (not twice).
func sysProcAttr() *syscall.SysProcAttr {
	fd := int(os.Stdin.Fd())
	if isTerminal(fd) {
		return &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: fd}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
