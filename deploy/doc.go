// Package deploy holds the tests of the deployment kit: the Compose file,
// the Kubernetes manifests, the systemd unit and the monitoring rules and
// dashboard beside it. It is a module of its own so that kustomize and the
// Kubernetes API types stay out of authserver's dependency graph.
package deploy
