package ciphertext_test

import (
	"encoding/hex"
	"fmt"

	"github.com/trentkms/trent/ciphertext"
)

func ExampleCanonicalContext() {
	b, err := ciphertext.CanonicalContext(map[string]string{"purpose": "backup", "app": "db"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(hex.EncodeToString(b))
	// Output: 00020003617070000264620007707572706f736500066261636b7570
}

func ExampleParse() {
	b := &ciphertext.Blob{Body: make([]byte, 12+5+16)} // IV || 5-byte ciphertext || tag
	b.KeyID[15] = 1
	p, err := ciphertext.Parse(b.Marshal())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.KeyID[15], len(p.Body)-ciphertext.IVSize-ciphertext.TagSize)

	_, err = ciphertext.Parse([]byte("\xff0000"))
	fmt.Println(err)
	// Output:
	// 1 5
	// ciphertext: invalid ciphertext blob
}
