package wire

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// docExample reads the values of the worked example of authentication from
// docs/protocol.md: the lines "name  value" of the block that opens with
// the secret access key.
func docExample(t *testing.T) (doc string, values map[string]string) {
	t.Helper()
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc = string(b)
	i := strings.Index(doc, "\nsecret access key ")
	if i < 0 {
		t.Fatal("docs/protocol.md has no authentication example (a block opening with \"secret access key\")")
	}
	block := doc[i+1:]
	block = block[:strings.Index(block, "```")]
	values = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("example line %q is not NAME  VALUE", sc.Text())
		}
		values[name] = strings.TrimSpace(value)
	}
	return doc, values
}

// hexRows formats b as docs/protocol.md shows frames: rows of 16 bytes.
func hexRows(b []byte) string {
	var rows []string
	for len(b) > 0 {
		n := min(16, len(b))
		rows = append(rows, fmt.Sprintf("% x", b[:n]))
		b = b[n:]
	}
	return strings.Join(rows, "\n")
}

func TestAuthDocExample(t *testing.T) {
	doc, v := docExample(t)
	decode := func(name string, n int) []byte {
		b, err := hex.DecodeString(v[name])
		if err != nil || len(b) != n {
			t.Fatalf("example %s = %q: want %d bytes of hex (%v)", name, v[name], n, err)
		}
		return b
	}
	var tr AuthTranscript
	copy(tr.ClientHello[:], decode("client hello", HelloSize))
	copy(tr.ServerHello[:], decode("server hello", HelloSize))
	copy(tr.ServerNonce[:], decode("server nonce", NonceSize))
	copy(tr.ClientNonce[:], decode("client nonce", NonceSize))
	tr.AccessKeyID = v["access key id"]
	// The hellos are the ones the text describes.
	want := Hello{Version: Version, Features: FeatureAuth, MaxFrame: DefaultMaxFrameSize}.Marshal()
	if tr.ClientHello != want || tr.ServerHello != want {
		t.Fatalf("example hellos %x %x; want %x (AUTH, 16 MiB)", tr.ClientHello, tr.ServerHello, want)
	}
	k := DeriveAuthKey(v["secret access key"])
	cp, sp := tr.ClientProof(&k), tr.ServerProof(&k)
	for _, c := range []struct {
		name string
		got  []byte
	}{{"K", k[:]}, {"client proof", cp[:]}, {"server proof", sp[:]}} {
		if w := decode(c.name, 32); string(w) != string(c.got) {
			t.Errorf("example %s is %x; computed %x", c.name, w, c.got)
		}
	}
	frameOf := func(op Op, id uint64, m Message) []byte {
		b, s := BeginFrame(nil)
		b = m.AppendTo(b)
		EndFrame(b, s, op, 0, id, 0)
		return b
	}
	for name, f := range map[string][]byte{
		"Challenge":             frameOf(OpChallenge, 0, &Challenge{Nonce: tr.ServerNonce}),
		"Authenticate":          frameOf(OpAuthenticate, 1, &ReqAuthenticate{AccessKeyID: tr.AccessKeyID, Nonce: tr.ClientNonce, Proof: cp}),
		"Authenticate response": frameOf(OpAuthenticate, 1, &RespAuthenticate{Proof: sp}),
	} {
		if !strings.Contains(doc, hexRows(f)) {
			t.Errorf("docs/protocol.md lacks the %s frame of the example:\n%s", name, hexRows(f))
		}
	}
}

func TestAuthProofs_CoverTheWholeTranscript(t *testing.T) {
	base := AuthTranscript{AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}
	base.ClientHello = Hello{Version: 1, Features: FeatureAuth, MaxFrame: MinMaxFrameSize}.Marshal()
	base.ServerHello = Hello{Version: 1, Features: FeatureAuth, MaxFrame: MinMaxFrameSize}.Marshal()
	k := DeriveAuthKey("secret")
	p0 := base.ClientProof(&k)
	if p0 == base.ServerProof(&k) {
		t.Fatal("the client's and the server's proofs are equal; the labels must tell them apart")
	}
	changes := map[string]func(*AuthTranscript){
		"client hello":  func(t *AuthTranscript) { t.ClientHello[8] ^= 1 },
		"server hello":  func(t *AuthTranscript) { t.ServerHello[15] ^= 1 },
		"server nonce":  func(t *AuthTranscript) { t.ServerNonce[31] ^= 1 },
		"client nonce":  func(t *AuthTranscript) { t.ClientNonce[0] ^= 1 },
		"access key id": func(t *AuthTranscript) { t.AccessKeyID += "X" },
	}
	for name, change := range changes {
		tr := base
		change(&tr)
		if tr.ClientProof(&k) == p0 {
			t.Errorf("changing the %s leaves the proof unchanged", name)
		}
	}
	other := DeriveAuthKey("secreT")
	if base.ClientProof(&other) == p0 {
		t.Error("another secret gives the same proof")
	}
}

func TestReqAuthenticate_RefusesBadKeyIDs(t *testing.T) {
	for _, id := range []string{"", strings.Repeat("A", MaxAccessKeyIDLen+1)} {
		body := (&ReqAuthenticate{AccessKeyID: id}).AppendTo(nil)
		var m ReqAuthenticate
		err := DecodeMessage(body, &m)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "access key id") {
			t.Errorf("key id of %d bytes: %v; want a malformed access key id", len(id), err)
		}
	}
}
