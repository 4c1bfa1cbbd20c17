// hpack-oracle: encodes header lists as grpc-go does, with
// golang.org/x/net/http2/hpack's Encoder (one encoder for the whole input,
// so later blocks refer to the dynamic table earlier ones filled; Huffman
// wherever it is shorter). Input: one JSON object per line,
// {"maxTableSize": N (optional, a dynamic table size update before the block),
//  "fields": [[name, value], ...], "sensitive": [bool, ...] (optional)}.
// Output: the header block of each line, hex-encoded, one per line.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/net/http2/hpack"
)

type block struct {
	MaxTableSize *uint32    `json:"maxTableSize"`
	Fields       [][]string `json:"fields"`
	Sensitive    []bool     `json:"sensitive"`
}

func main() {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		var b block
		if err := json.Unmarshal(in.Bytes(), &b); err != nil {
			fmt.Fprintln(os.Stderr, "hpack-oracle:", err)
			os.Exit(1)
		}
		buf.Reset()
		if b.MaxTableSize != nil {
			enc.SetMaxDynamicTableSize(*b.MaxTableSize)
		}
		for i, f := range b.Fields {
			sensitive := i < len(b.Sensitive) && b.Sensitive[i]
			if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1], Sensitive: sensitive}); err != nil {
				fmt.Fprintln(os.Stderr, "hpack-oracle:", err)
				os.Exit(1)
			}
		}
		fmt.Println(hex.EncodeToString(buf.Bytes()))
	}
}
