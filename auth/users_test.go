package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// usersDoc is a valid users file of two users.
const usersDoc = `{"account": "123456789012", "users": [
  {"name": "ingest", "access_key_id": "AKIAINGEST0000000001", "secret_access_key": "ingest-secret-0123456789",
   "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": "arn:aws:kinesis:*:*:stream/orders-*"}]}},
  {"name": "admin", "access_key_id": "AKIAADMIN00000000001", "secret_access_key": "admin-secret-0123456789",
   "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}]}}]}`

func TestParseUsers(t *testing.T) {
	us, err := ParseUsers([]byte(usersDoc))
	if err != nil {
		t.Fatal(err)
	}
	if us.Account() != "123456789012" || len(us.List()) != 2 {
		t.Fatalf("account %s, %d users", us.Account(), len(us.List()))
	}
	u := us.Lookup("AKIAINGEST0000000001")
	if u == nil || u.Name != "ingest" || u.ARN != "arn:aws:iam::123456789012:user/ingest" || u.SecretAccessKey != "ingest-secret-0123456789" {
		t.Fatalf("ingest = %+v", u)
	}
	if err := Authorize(u, "kinesis:PutRecords", ordersARN, nil); err != nil {
		t.Errorf("ingest's policy: %v", err)
	}
	if us.Lookup("AKIAUNKNOWN000000001") != nil {
		t.Error("an unknown key finds a user")
	}
	noAccount, err := ParseUsers([]byte(`{"users": [{"name": "a", "access_key_id": "AKIAAAAAAAAAAAAAAAAA", "secret_access_key": "0123456789abcdef"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if noAccount.Account() != DefaultAccount || noAccount.List()[0].Policy != nil {
		t.Errorf("a file without account: %s, policy %v", noAccount.Account(), noAccount.List()[0].Policy)
	}
}

func TestParseUsers_Errors(t *testing.T) {
	user := func(name, key, secret, rest string) string {
		return `{"name": "` + name + `", "access_key_id": "` + key + `", "secret_access_key": "` + secret + `"` + rest + `}`
	}
	file := func(account string, users ...string) string {
		return `{"account": "` + account + `", "users": [` + strings.Join(users, ",") + `]}`
	}
	const (
		key1   = "AKIAAAAAAAAAAAAAAAA1"
		key2   = "AKIAAAAAAAAAAAAAAAA2"
		secret = "0123456789abcdef0123"
	)
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"not JSON", `{"users": [`, []string{"users file is not valid"}},
		{"unknown member", `{"account": "123456789012", "user": []}`, []string{`unknown field "user"`}},
		{"member of another case", `{"account": "123456789012", "Account": "000000000000", "users": []}`, []string{`member "Account"`, "case-sensitive"}},
		{"user member twice", file("123456789012", user("a", key1, secret, `, "name": "b"`)), []string{`user 1 member "name" appears twice`}},
		{"user member of another case", file("123456789012", user("a", key1, secret, `, "Policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}`)),
			[]string{`member "Policy"`}},
		{"unknown user member", file("123456789012", user("a", key1, secret, `, "group": "x"`)), []string{`unknown field "group"`}},
		{"short account", file("12345", user("a", key1, secret, "")), []string{`account "12345" must be 12 digits`}},
		{"no name", file("123456789012", user("", key1, secret, "")), []string{"user 1", "name must be"}},
		{"bad name", file("123456789012", user("in gest", key1, secret, "")), []string{`user "in gest"`, "name must be"}},
		{"long name", file("123456789012", user(strings.Repeat("a", 65), key1, secret, "")), []string{"name must be 1 to 64"}},
		{"duplicate name", file("123456789012", user("a", key1, secret, ""), user("a", key2, secret, "")), []string{`user "a"`, "appears twice"}},
		{"short key", file("123456789012", user("a", "AKIA1", secret, "")), []string{"access_key_id must be 16 to 128"}},
		{"lower-case key", file("123456789012", user("a", strings.ToLower(key1), secret, "")), []string{"access_key_id must be", "A-Z 0-9"}},
		{"duplicate key", file("123456789012", user("a", key1, secret, ""), user("b", key1, secret, "")), []string{`user "b"`, `also user "a"'s`}},
		{"short secret", file("123456789012", user("a", key1, "short", "")), []string{"secret_access_key must be at least 16"}},
		{"malformed policy", file("123456789012", user("a", key1, secret, `, "policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}`)),
			[]string{`user "a"`, "Condition"}},
		{"policy with a Principal", file("123456789012", user("a", key1, secret, `, "policy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}`)),
			[]string{`user "a"`, "Principal"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			us, err := ParseUsers([]byte(c.doc))
			if err == nil {
				t.Fatalf("parsed %s into %v", c.doc, us)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func writeUsers(t *testing.T, path, doc string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(doc), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile keeps the mode of an existing file
		t.Fatal(err)
	}
}

// TestStore_ReloadKeepsUsersOnBadFile: a bad users file is refused with the
// reason and the users in force stay; a good one replaces them.
func TestStore_ReloadKeepsUsersOnBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	writeUsers(t, path, usersDoc, 0o600)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path || s.Account() != "123456789012" {
		t.Fatalf("Path %q Account %q", s.Path(), s.Account())
	}
	gen := s.Generation()

	writeUsers(t, path, `{"account": "123456789012", "users": [{"name": "x"}]}`, 0o600)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "access_key_id") {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if u := s.Lookup("AKIAINGEST0000000001"); u == nil || u.Name != "ingest" {
		t.Fatalf("after a refused reload, ingest is %v", u)
	}
	if s.Generation() != gen {
		t.Errorf("a refused reload changed the generation %d to %d", gen, s.Generation())
	}

	writeUsers(t, path, usersDoc, 0o644)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Reload of a world-readable file: %v", err)
	}
	if s.Lookup("AKIAINGEST0000000001") == nil {
		t.Fatal("a refused reload dropped the users")
	}

	writeUsers(t, path, strings.Replace(usersDoc, "AKIAINGEST0000000001", "AKIAINGEST0000000002", 1), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Lookup("AKIAINGEST0000000001") != nil || s.Lookup("AKIAINGEST0000000002") == nil {
		t.Fatal("a good reload did not replace the users")
	}
	if s.Generation() == gen {
		t.Error("a good reload kept the generation")
	}
}

func TestOpen_RefusesReadableFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		path := filepath.Join(t.TempDir(), "users.json")
		writeUsers(t, path, usersDoc, mode)
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "others may read it") {
			t.Errorf("Open of a %04o file: %v", mode, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	if err := NewStore(nil).Reload(); err == nil {
		t.Error("Reload of a Store without a file succeeded")
	}
}

func TestAddUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	policy := []byte(`{"Statement": [{"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "*"}]}`)
	key, secret, err := AddUser(path, "ingest", policy)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %04o; want 0600", fi.Mode().Perm())
	}
	if !validAccessKeyID(key) || !strings.HasPrefix(key, "AKIA") || len(secret) != 40 {
		t.Fatalf("keys %q %q", key, secret)
	}
	key2, secret2, err := AddUser(path, "admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key2 == key || secret2 == secret {
		t.Fatal("two users got the same keys")
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Account() != DefaultAccount {
		t.Errorf("account %s", s.Account())
	}
	u := s.Lookup(key)
	if u == nil || u.Name != "ingest" || u.SecretAccessKey != secret {
		t.Fatalf("Lookup(%s) = %+v", key, u)
	}
	if err := Authorize(u, "kinesis:PutRecords", ordersARN, nil); err != nil {
		t.Errorf("the policy given to AddUser: %v", err)
	}
	if a := s.Lookup(key2); a == nil || a.Name != "admin" || a.Policy != nil {
		t.Fatalf("Lookup(%s) = %+v", key2, a)
	}

	before, _ := os.ReadFile(path)
	if _, _, err := AddUser(path, "ingest", nil); !errors.Is(err, ErrUserExists) {
		t.Fatalf("AddUser of an existing name: %v", err)
	}
	if _, _, err := AddUser(path, "bad", []byte(`{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}`)); err == nil || !strings.Contains(err.Error(), "Condition") {
		t.Fatalf("AddUser with a bad policy: %v", err)
	}
	if _, _, err := AddUser(path, "in valid", nil); err == nil {
		t.Fatal("AddUser with an invalid name succeeded")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a refused AddUser changed the file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("the directory holds %d files; AddUser left temporaries", len(entries))
	}
}

// TestAddUser_KeepsTheFile: AddUser keeps the account and the other users'
// keys and policies as they were.
func TestAddUser_KeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	writeUsers(t, path, usersDoc, 0o600)
	before, err := ParseUsers([]byte(usersDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := AddUser(path, "reader", nil); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Account() != "123456789012" || len(s.Users().List()) != 3 {
		t.Fatalf("account %s, %d users", s.Account(), len(s.Users().List()))
	}
	for _, u := range before.List() {
		got := s.Lookup(u.AccessKeyID)
		if got == nil || !reflect.DeepEqual(*got, *u) {
			t.Errorf("user %s became %+v", u.Name, got)
		}
	}
}

// FuzzParseUsers: no file makes ParseUsers panic; a file it accepts has
// users that Lookup finds by key, with well-formed ARNs, and parses again
// to the same users.
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte(usersDoc))
	f.Add([]byte(`{"users": []}`))
	f.Add([]byte(`{"account": "000000000000", "users": [{"name": "a", "access_key_id": "AKIAAAAAAAAAAAAAAAAA", "secret_access_key": "0123456789abcdef", "policy": null}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		us, err := ParseUsers(doc)
		if err != nil {
			return
		}
		for _, u := range us.List() {
			if us.Lookup(u.AccessKeyID) != u {
				t.Fatalf("Lookup(%s) does not find %s", u.AccessKeyID, u.Name)
			}
			if u.ARN != "arn:aws:iam::"+us.Account()+":user/"+u.Name || u.Account != us.Account() {
				t.Fatalf("user %s has ARN %s in account %s", u.Name, u.ARN, u.Account)
			}
			_ = Authorize(u, "kinesis:PutRecords", ordersARN, nil)
		}
		again, err := ParseUsers(doc)
		if err != nil || !reflect.DeepEqual(us, again) {
			t.Fatalf("parsing again: %v", err)
		}
	})
}

func TestAddUser_ConcurrentKeepsEveryUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.json")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := AddUser(path, fmt.Sprintf("user%d", i), nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	u, err := ParseUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(u.List()); got != n {
		t.Fatalf("%d concurrent add-users left %d users in the file", n, got)
	}
}
