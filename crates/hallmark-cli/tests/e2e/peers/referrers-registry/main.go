// A registry with the OCI 1.1 referrers API, for hallmark's end-to-end tests: the registry
// of go-containerregistry (the one `crane registry serve` runs) with its referrers
// endpoint switched on, which the crane command line does not do.
//
//	referrers-registry ADDRESS DIR
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: referrers-registry ADDRESS DIR")
	}
	handler := registry.New(
		registry.WithBlobHandler(registry.NewDiskBlobHandler(os.Args[2])),
		registry.WithReferrersSupport(true),
		registry.Logger(log.New(os.Stderr, "", 0)),
	)
	log.Fatal(http.ListenAndServe(os.Args[1], handler))
}
