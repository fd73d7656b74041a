// Package docs embeds the API description served at /api/v1/openapi.yaml.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml: every REST endpoint of /api/v1.
//
//go:embed openapi.yaml
var OpenAPI []byte
