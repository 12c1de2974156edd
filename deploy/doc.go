// Package deploy tests the deployment files without a Docker engine or a
// Kubernetes cluster: docker-compose.yml is loaded with compose-go and
// checked against the project and deploy/pipeline.yaml, and the Helm chart
// under helm/auditstream is rendered with Helm's own engine and decoded
// strictly into the Kubernetes API types.
//
// The module is separate so that compose-go, Helm and the Kubernetes API
// types stay out of the service modules. cmd/healthcheck, the images'
// healthcheck command, imports the standard library only.
package deploy
