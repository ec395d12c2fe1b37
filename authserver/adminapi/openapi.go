package adminapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// OpenAPIYAML is the OpenAPI 3.1 description of both APIs: a copy of
// docs/openapi.yaml, which a test holds it to.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// openAPIJSON converts the description to JSON, once.
func openAPIJSON() ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi description: %w", err)
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (a *API) serveOpenAPI(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(doc)
	}
}
