// Command etcd is upstream etcd v3.6, built from the Go module proxy so that
// the e2e tests can run a real kube-apiserver on loopback. It is its own
// module because k8s.io/kubernetes requires a newer etcd server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
