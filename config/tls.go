package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// TLSConfig builds the TLS settings, or returns nil when TLS is off.
func (k Kafka) TLSConfig() (*tls.Config, error) {
	t := k.TLS
	if t == nil {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pool, err := loadCA(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := loadKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// loadCA reads a PEM file of CA certificates. Every block must be a
// certificate that parses: a file holding a key, or a truncated copy, is a
// mistake to report now rather than a handshake that fails later with
// "unknown authority".
func loadCA(path string) (*x509.CertPool, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: holds a %s block; want only CERTIFICATE blocks (the CA that signed the brokers' certificates)", path, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d does not parse: %v", path, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// loadKeyPair reads a client certificate and its key, both PEM, and checks
// that they belong together.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	switch {
	case certFile == "":
		return tls.Certificate{}, errors.New("key_file is set but cert_file is not: give both")
	case keyFile == "":
		return tls.Certificate{}, errors.New("cert_file is set but key_file is not: give both")
	}
	cb, err := readFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	kb, err := readFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		// crypto/tls's wording names neither file.
		return tls.Certificate{}, fmt.Errorf("%s and %s: %v", certFile, keyFile, err)
	}
	return cert, nil
}

// readFile reads a file, with an error that names it once.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %v", path, pe.Err)
		}
		return nil, err
	}
	return b, nil
}
