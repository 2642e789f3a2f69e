package stsemu

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// accessKeyID returns prefix followed by 16 characters of [A-Z2-7], the
// shape of AWS access key ids (AKIA... long-term, ASIA... temporary).
func accessKeyID(prefix string) string {
	return prefix + rand.Text()[:16]
}

// uniqueID returns an IAM unique id such as AIDA... (user) or AROA... (role):
// the prefix followed by 17 characters of [A-Z2-7].
func uniqueID(prefix string) string {
	return prefix + rand.Text()[:17]
}

// secretAccessKey returns a 40-character secret in AWS's alphabet.
func secretAccessKey() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b) // never fails, see crypto/rand.Read
	return base64.StdEncoding.EncodeToString(b)
}

// sessionToken returns a long opaque session token.
func sessionToken() string {
	b := make([]byte, 300)
	_, _ = rand.Read(b)
	return "IQoJb3JpZ2luX2Vj" + base64.StdEncoding.EncodeToString(b)
}

// requestID returns a random (version 4) UUID, the shape of AWS request ids.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
