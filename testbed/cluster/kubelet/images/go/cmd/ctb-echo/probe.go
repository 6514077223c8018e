package main

// `ctb-echo probe tcp:<port>` / `ctb-echo probe http:<port><path> [<scheme>]`: a kubelet network probe run from
// inside the pod (an exec probe) against the pod's own port. On the testbed's real nodes kubelet lives in the
// machine's root namespace, which is deliberately not connected to the emulated networks, so a tcpSocket or
// httpGet probe sent from there could not reach the pod (and would follow the machine's default route out);
// the local-image overlay turns such probes into this. Exit 0 when the probe succeeds as kubelet judges it
// (TCP: the connection opens; HTTP: a status from 200 to 399), else 1 with the reason on stderr.

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"
)

var probeArg = regexp.MustCompile(`^(tcp|http):(\d+)(/.*)?$`)

func probe(args []string) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(os.Stderr, "ctb-echo probe: usage: ctb-echo probe tcp:<port> | http:<port><path> [http|https]")
		return 2
	}
	m := probeArg.FindStringSubmatch(args[0])
	n := 0
	if m != nil {
		n, _ = strconv.Atoi(m[2])
	}
	if m == nil || n < 1 || n > 65535 {
		fmt.Fprintf(os.Stderr, "ctb-echo probe: bad target %q: expected tcp:<port> or http:<port>/<path>\n", args[0])
		return 2
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n))
	if m[1] == "tcp" {
		c, err := net.DialTimeout("tcp4", addr, 1*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ctb-echo probe: tcp %s: %v\n", addr, err)
			return 1
		}
		c.Close()
		return 0
	}
	scheme := "http"
	if len(args) == 2 {
		scheme = args[1]
	}
	path := m[3]
	if path == "" {
		path = "/"
	}
	client := &http.Client{Timeout: 1 * time.Second}
	res, err := client.Get(fmt.Sprintf("%s://%s%s", scheme, addr, path))
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctb-echo probe: GET %s%s: %v\n", addr, path, err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 400 {
		fmt.Fprintf(os.Stderr, "ctb-echo probe: GET %s%s: %s\n", addr, path, res.Status)
		return 1
	}
	return 0
}
