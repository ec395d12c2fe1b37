// Package imagetest holds the tests of the container image that `make
// image` builds from deploy/Containerfile. They need podman and run only
// with the build tag "image" (`make test-image`, which `make test` and
// .ci/run call): they build the image and run containers, several minutes
// of work that a plain `go test ./...` should not start.
package imagetest
