//go:build !race

package authserver_test

const raceBuild = false
