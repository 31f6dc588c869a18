package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CredentialsFromEnvironment finds an access key the way the AWS tools do:
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else the profile AWS_PROFILE
// (default "default") of the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials). source says
// where the key came from ("AWS_ACCESS_KEY_ID", or the profile and its
// file). Finding no key is no credentials (nil), not an error: servers
// without --auth need none; a missing file is no credentials too, unless
// AWS_PROFILE names a profile explicitly.
func CredentialsFromEnvironment() (creds *Credentials, source string, err error) {
	return CredentialsFrom(os.Getenv)
}

// CredentialsFrom is CredentialsFromEnvironment reading the environment
// through getenv.
func CredentialsFrom(getenv func(string) string) (creds *Credentials, source string, err error) {
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		return &Credentials{AccessKeyID: id, SecretAccessKey: secret}, "AWS_ACCESS_KEY_ID", nil
	case id != "":
		return nil, "", errors.New("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or unset it")
	case secret != "":
		return nil, "", errors.New("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or unset it")
	}
	profile, explicit := getenv("AWS_PROFILE"), true
	if profile == "" {
		profile, explicit = "default", false
	}
	path := getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			if explicit {
				return nil, "", fmt.Errorf("AWS_PROFILE is %q but there is no home directory to find ~/.aws/credentials in (%v); set AWS_SHARED_CREDENTIALS_FILE", profile, err)
			}
			return nil, "", nil
		}
		path = filepath.Join(home, ".aws", "credentials")
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("AWS_PROFILE is %q, but the credentials file cannot be read: %w", profile, err)
	}
	source = fmt.Sprintf("profile %s of %s", profile, path)
	id, secret, found := profileKeys(b, profile)
	switch {
	case !found && explicit:
		return nil, "", fmt.Errorf("AWS_PROFILE is %q, but %s has no [%s] section", profile, path, profile)
	case !found:
		return nil, "", nil
	case id == "" || secret == "":
		return nil, "", fmt.Errorf("%s: needs both aws_access_key_id and aws_secret_access_key", source)
	}
	return &Credentials{AccessKeyID: id, SecretAccessKey: secret}, source, nil
}

// profileKeys reads the keys of one profile from a shared credentials
// file: INI sections "[name]" holding "aws_access_key_id = ..." and
// "aws_secret_access_key = ..." lines; lines starting with '#' or ';' are
// comments and other keys are ignored. found reports whether the section
// exists.
func profileKeys(b []byte, profile string) (id, secret string, found bool) {
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[' && line[len(line)-1] == ']':
			in = strings.TrimSpace(line[1:len(line)-1]) == profile
			found = found || in
			continue
		case !in:
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	return id, secret, found
}
