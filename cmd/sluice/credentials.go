package main

import (
	"github.com/sluicedb/sluice/client"
)

// credentialSource is where the access key of an invocation came from, for
// error messages: "--access-key", "AWS_ACCESS_KEY_ID", or a profile and
// its file.
type credentialSource string

// resolveCredentials finds the access key to authenticate with, as the AWS
// tools do: the flags (both or neither), else the environment and the
// shared credentials file (client.CredentialsFrom).
func resolveCredentials(accessKey, secretKey string, getenv func(string) string) (*client.Credentials, credentialSource, error) {
	switch {
	case accessKey != "" && secretKey != "":
		return &client.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, "--access-key", nil
	case accessKey != "" || secretKey != "":
		return nil, "", usagef("", "--access-key and --secret-key go together: give both, or neither to use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or ~/.aws/credentials")
	}
	creds, source, err := client.CredentialsFrom(getenv)
	return creds, credentialSource(source), err
}
