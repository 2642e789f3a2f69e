package configs

import _ "embed"

//go:embed config.example.yaml
var exampleConfig string

// ExampleConfig returns the annotated example configuration file, which
// documents every key with its default and allowed values.
func ExampleConfig() string { return exampleConfig }
