// Command etcd is the upstream etcd server of the generation Kubernetes 1.34 is paired with (3.6).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
