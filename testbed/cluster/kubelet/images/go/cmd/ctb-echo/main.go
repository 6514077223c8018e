// A pod's workload on real nodes, answering as the node emulator's pods do (fake-vrouter/netns/pod-main.ts):
// TCP echo on each TCP port, except that a connection starting with an HTTP request gets one HTTP 200 whose
// body is the address it reached (the pod's own) and is closed; UDP echo (each datagram back to its sender);
// and, where the kernel has SCTP, an SCTP listener that echoes (the simulated host's INIT → INIT-ACK).
//
//	ctb-echo tcp:80 udp:53 sctp:9000      (or CTB_ECHO_PORTS="tcp:80 udp:53" with no arguments)
//	ctb-echo probe http:80/healthz        (a kubelet probe from inside the pod: probe.go)
//
// Prints one "serving …" line once every socket listens; exits 0 at SIGTERM/SIGINT (it is PID 1 in its
// container, where the kernel ignores signals without a handler).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

type port struct {
	proto string
	num   int
}

var portArg = regexp.MustCompile(`^(tcp|udp|sctp):(\d+)$`)

// The methods pod-main.ts recognises at the start of a connection.
var httpRequest = regexp.MustCompile(`^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) `)

func parse(args []string) ([]port, error) {
	var ports []port
	seen := map[string]bool{}
	for _, a := range args {
		m := portArg.FindStringSubmatch(a)
		n, _ := strconv.Atoi(m2(m))
		if m == nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q: expected tcp:<n>, udp:<n> or sctp:<n> (1-65535)", a)
		}
		if !seen[a] {
			ports = append(ports, port{m[1], n})
		}
		seen[a] = true
	}
	return ports, nil
}

func m2(m []string) string {
	if m == nil {
		return ""
	}
	return m[2]
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "probe" {
		os.Exit(probe(args[1:]))
	}
	if len(args) == 0 {
		args = strings.Fields(os.Getenv("CTB_ECHO_PORTS"))
	}
	ports, err := parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctb-echo: %v\n", err)
		os.Exit(2)
	}
	var served []string
	for _, p := range ports {
		addr := fmt.Sprintf("0.0.0.0:%d", p.num)
		switch p.proto {
		case "tcp":
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ctb-echo: tcp:%d: %v\n", p.num, err)
				os.Exit(1)
			}
			go acceptLoop(l, serveTCP)
		case "udp":
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ctb-echo: udp:%d: %v\n", p.num, err)
				os.Exit(1)
			}
			go serveUDP(c)
		case "sctp":
			l, err := listenSCTP(p.num)
			if err != nil {
				// Not fatal: the other ports still answer, and the line says why this one does not.
				fmt.Fprintf(os.Stderr, "ctb-echo: sctp:%d not served: %v\n", p.num, err)
				continue
			}
			go acceptLoop(l, serveEcho)
		}
		served = append(served, fmt.Sprintf("%s:%d", p.proto, p.num))
	}
	fmt.Printf("ctb-echo: serving %s\n", strings.Join(served, " "))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}

func acceptLoop(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go serve(c)
	}
}

// serveTCP: an HTTP request gets 200 with the reached address; anything else is echoed until the peer ends.
func serveTCP(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64*1024)
	n, _ := c.Read(buf)
	if n == 0 {
		return
	}
	first := buf[:n]
	if httpRequest.Match(first[:min(8, n)]) { // pod-main.ts looks at the first 8 bytes too
		body := localIP(c) + "\n"
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		return
	}
	if _, err := c.Write(first); err != nil {
		return
	}
	io.Copy(c, c)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

func serveEcho(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}

func serveUDP(c net.PacketConn) {
	buf := make([]byte, 64*1024)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			continue
		}
		c.WriteTo(buf[:n], from)
	}
}

func localIP(c net.Conn) string {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, _ := net.SplitHostPort(c.LocalAddr().String())
	return host
}
