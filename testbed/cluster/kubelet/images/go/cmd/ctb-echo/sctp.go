package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// listenSCTP: a one-to-one (SOCK_STREAM) SCTP socket on 0.0.0.0, wrapped as a net.Listener. Go's net package
// has no SCTP; the kernel does the association (INIT → INIT-ACK), as the simulated host stack answers.
func listenSCTP(num int) (net.Listener, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_SCTP)
	if err != nil {
		if errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.ESOCKTNOSUPPORT) {
			return nil, fmt.Errorf("this kernel has no SCTP (%v)", err)
		}
		return nil, err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: num}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Listen(fd, 128); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("sctp:%d", num))
	defer f.Close()
	// FileListener dups the descriptor; the runtime's poller drives accept as for TCP.
	return net.FileListener(f)
}
