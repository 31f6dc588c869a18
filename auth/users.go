package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// DefaultAccount is the account of a users file that names none; it is also
// the server's default --account.
const DefaultAccount = "000000000000"

// User is one identity of the users file.
type User struct {
	// Name is the user's name, unique in the file ("ingest").
	Name string
	// AccessKeyID and SecretAccessKey are the user's key pair. The secret
	// never leaves the server: SigV4 and the binary protocol's
	// challenge-response prove possession of it.
	AccessKeyID     string
	SecretAccessKey string
	// Account is the account id the user belongs to.
	Account string
	// ARN is "arn:aws:iam::ACCOUNT:user/NAME", the principal of policies.
	ARN string
	// Policy is the user's identity policy; nil grants nothing.
	Policy *Policy
}

// Users is a parsed users file. It is immutable.
type Users struct {
	account string
	list    []*User
	byKey   map[string]*User
}

// Account is the file's account id.
func (u *Users) Account() string { return u.account }

// Lookup returns the user with the access key id, or nil.
func (u *Users) Lookup(accessKeyID string) *User { return u.byKey[accessKeyID] }

// List returns the users in file order.
func (u *Users) List() []*User { return u.list }

// usersFile is the users file as JSON.
type usersFile struct {
	Account string     `json:"account"`
	Users   []fileUser `json:"users"`
}

type fileUser struct {
	Name            string          `json:"name"`
	AccessKeyID     string          `json:"access_key_id"`
	SecretAccessKey string          `json:"secret_access_key"`
	Policy          json.RawMessage `json:"policy,omitempty"`
}

// Limits of the users file's fields.
const (
	minAccessKeyLen = 16  // AWS's minimum access key id length
	maxAccessKeyLen = 128 // and its maximum
	minSecretLen    = 16  // short secrets are guessable; AWS's are 40
	maxUserNameLen  = 64  // IAM's limit on user names
)

// ParseUsers parses and validates a users file:
//
//	{"account": "123456789012",
//	 "users": [{"name": "ingest", "access_key_id": "AKIA...", "secret_access_key": "...",
//	            "policy": {"Version": "2012-10-17", "Statement": [...]}}]}
//
// Unknown members, duplicate names or keys and malformed policies are
// refused with the reason.
func ParseUsers(b []byte) (*Users, error) {
	var f usersFile
	if err := strictUnmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("users file is not valid: %w", err)
	}
	if err := checkMembers(b, "users file", []string{"account", "users"}); err != nil {
		return nil, err
	}
	var raw struct {
		Users []json.RawMessage `json:"users"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("users file is not valid: %w", err)
	}
	for i, u := range raw.Users {
		if err := checkMembers(u, fmt.Sprintf("users file: user %d", i+1), []string{"name", "access_key_id", "secret_access_key", "policy"}); err != nil {
			return nil, err
		}
	}
	if f.Account == "" {
		f.Account = DefaultAccount
	}
	if !isAccountID(f.Account) {
		return nil, fmt.Errorf("users file: account %q must be 12 digits", f.Account)
	}
	us := &Users{account: f.Account, byKey: make(map[string]*User, len(f.Users))}
	names := make(map[string]bool, len(f.Users))
	for i, fu := range f.Users {
		where := fmt.Sprintf("users file: user %d", i+1)
		if fu.Name != "" {
			where = fmt.Sprintf("users file: user %q", fu.Name)
		}
		switch {
		case !validUserName(fu.Name):
			return nil, fmt.Errorf("%s: name must be 1 to %d of A-Z a-z 0-9 and +=,.@_-", where, maxUserNameLen)
		case names[fu.Name]:
			return nil, fmt.Errorf("%s: the name appears twice", where)
		case !validAccessKeyID(fu.AccessKeyID):
			return nil, fmt.Errorf("%s: access_key_id must be %d to %d of A-Z 0-9", where, minAccessKeyLen, maxAccessKeyLen)
		case us.byKey[fu.AccessKeyID] != nil:
			return nil, fmt.Errorf("%s: access_key_id %s is also user %q's", where, fu.AccessKeyID, us.byKey[fu.AccessKeyID].Name)
		case len(fu.SecretAccessKey) < minSecretLen:
			return nil, fmt.Errorf("%s: secret_access_key must be at least %d characters", where, minSecretLen)
		}
		u := &User{
			Name: fu.Name, AccessKeyID: fu.AccessKeyID, SecretAccessKey: fu.SecretAccessKey,
			Account: f.Account, ARN: "arn:aws:iam::" + f.Account + ":user/" + fu.Name,
		}
		if len(fu.Policy) > 0 && string(fu.Policy) != "null" {
			p, err := ParsePolicy(fu.Policy)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			u.Policy = p
		}
		names[fu.Name] = true
		us.byKey[fu.AccessKeyID] = u
		us.list = append(us.list, u)
	}
	return us, nil
}

func validUserName(s string) bool {
	if len(s) == 0 || len(s) > maxUserNameLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			return false
		}
	}
	return true
}

func validAccessKeyID(s string) bool {
	if len(s) < minAccessKeyLen || len(s) > maxAccessKeyLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Store holds the users in force. It is safe for concurrent use: lookups
// are lock-free, and Reload swaps a whole new file in at once.
type Store struct {
	path  string
	users atomic.Pointer[Users]
	gen   atomic.Uint64
	mu    sync.Mutex // serializes Reload
}

// Open reads the users file at path. The file holds secrets: one that other
// users of the machine may read (group or other permission bits) is refused.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewStore returns a Store holding u, with no file behind it (Reload fails).
func NewStore(u *Users) *Store {
	s := &Store{}
	s.users.Store(u)
	s.gen.Store(1)
	return s
}

// Reload re-reads the file. A file that cannot be read or is not valid is
// refused with the reason, and the users in force stay.
func (s *Store) Reload() error {
	if s.path == "" {
		return errors.New("auth: the users were not read from a file")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := readUsers(s.path)
	if err != nil {
		return err
	}
	s.users.Store(u)
	s.gen.Add(1)
	return nil
}

// ParseUsersFile reads and parses the users file at path, refusing one that
// others may read, as Open does.
func ParseUsersFile(path string) (*Users, error) { return readUsers(path) }

func readUsers(path string) (*Users, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("users file %s holds secrets but others may read it (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	u, err := ParseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// Path is the users file's path ("" for NewStore).
func (s *Store) Path() string { return s.path }

// Users returns the users in force.
func (s *Store) Users() *Users { return s.users.Load() }

// Account is the account of the users in force.
func (s *Store) Account() string { return s.users.Load().account }

// Lookup returns the user with the access key id, or nil.
func (s *Store) Lookup(accessKeyID string) *User { return s.users.Load().byKey[accessKeyID] }

// Generation counts successful loads; it changes whenever the users do.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// AddUser adds a user named name with a new random key pair to the users
// file at path (creating it, for account DefaultAccount, if it does not
// exist) and returns the keys. policy is the user's identity policy (nil:
// none). The file is rewritten atomically with mode 0600; everything else in
// it is kept.
func AddUser(path, name string, policy []byte) (accessKeyID, secret string, err error) {
	// Two add-users at once must not each rewrite the file without the
	// other's user: hold an exclusive lock on its directory.
	unlock, err := lockBeside(path)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	var f usersFile
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.Account = DefaultAccount
	case err != nil:
		return "", "", fmt.Errorf("users file: %w", err)
	default:
		if _, err := ParseUsers(b); err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, u := range f.Users {
		if u.Name == name {
			return "", "", fmt.Errorf("%w: %q is in %s already", ErrUserExists, name, path)
		}
	}
	accessKeyID, secret = newAccessKeyID(), newSecret()
	u := fileUser{Name: name, AccessKeyID: accessKeyID, SecretAccessKey: secret}
	if len(policy) > 0 {
		if _, err := ParsePolicy(policy); err != nil {
			return "", "", err
		}
		u.Policy = json.RawMessage(policy)
	}
	f.Users = append(f.Users, u)
	out, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return "", "", err
	}
	out = append(out, '\n')
	if _, err := ParseUsers(out); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(path, out); err != nil {
		return "", "", err
	}
	return accessKeyID, secret, nil
}

// lockBeside takes an exclusive flock on the directory holding path (a
// lock that leaves no file behind) and returns its release.
func lockBeside(path string) (func(), error) {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if err := syscall.Flock(int(dir.Fd()), syscall.LOCK_EX); err != nil {
		dir.Close()
		return nil, fmt.Errorf("users file: lock %s: %w", dir.Name(), err)
	}
	return func() { dir.Close() }, nil
}

// newAccessKeyID returns "AKIA" and 16 random characters of A-Z and 2-7, the
// shape of an AWS access key id.
func newAccessKeyID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [20]byte
	copy(b[:], "AKIA")
	var r [16]byte
	_, _ = rand.Read(r[:])
	for i, v := range r {
		b[4+i] = alphabet[v&31]
	}
	return string(b[:])
}

// newSecret returns 40 random characters of base64's alphabet (240 bits),
// the shape of an AWS secret access key.
func newSecret() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [40]byte
	var r [40]byte
	_, _ = rand.Read(r[:])
	for i, v := range r {
		b[i] = alphabet[v&63]
	}
	return string(b[:])
}

// writeFileAtomic writes b to path through a synced temporary file renamed
// over it, then syncs the directory.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
