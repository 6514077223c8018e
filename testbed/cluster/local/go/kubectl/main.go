// Command kubectl is the upstream kubectl, built from the same pinned modules as the control plane.
package main

import (
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec/oidc auth plugins in kubeconfigs
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
