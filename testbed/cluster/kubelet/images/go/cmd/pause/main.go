// The pod sandbox's process ("pause"), as Kubernetes' own pause image runs one: it holds the pod's namespaces
// open, reaps the zombies of processes that end in its PID namespace, and exits at SIGINT/SIGTERM.
// Built static (CGO_ENABLED=0) so the image holds this one file.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (contrail-k8s-testbed)\n")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
