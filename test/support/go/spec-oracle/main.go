// spec-oracle decodes an OCI runtime spec the way runc reads config.json
// (runc spec.go loadSpec: json.NewDecoder(f).Decode(&spec) into specs.Spec)
// and prints, as one JSON line, what Go read: the mounts, the annotations,
// and every other field re-encoded (so two specs can be compared exactly),
// or the decoder's error. tsov's spec reader is held to it
// (test/integration/spec-document-go.test.ts).
package main

import (
	"encoding/json"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	out := map[string]interface{}{}
	f, err := os.Open(os.Args[1])
	if err != nil {
		out["error"] = err.Error()
	} else {
		var spec *specs.Spec
		if err := json.NewDecoder(f).Decode(&spec); err != nil {
			out["error"] = err.Error()
		} else if spec == nil {
			out["error"] = "the spec is null"
		} else {
			out["mounts"] = spec.Mounts
			out["annotations"] = spec.Annotations
			rest := *spec
			rest.Mounts = nil
			rest.Annotations = nil
			encoded, _ := json.Marshal(rest)
			out["rest"] = string(encoded)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
