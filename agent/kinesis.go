package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/sluicedb/sluice/client"
	"github.com/sluicedb/sluice/internal/awshttp"
)

// KinesisOptions configures a KinesisDestination.
type KinesisOptions struct {
	// Endpoint is the Kinesis API URL: sluiced's --http address
	// (http://127.0.0.1:4567) or an AWS regional endpoint
	// (https://kinesis.us-east-1.amazonaws.com).
	Endpoint string
	// Region signs the requests; default us-east-1.
	Region string
	// Credentials sign the requests (SigV4). Required: sluiced without
	// --auth accepts any key.
	Credentials *client.Credentials
	// SessionToken goes with temporary credentials (AWS_SESSION_TOKEN).
	SessionToken string
	// TLS verifies an https endpoint; nil uses the system's roots.
	TLS *tls.Config
}

// KinesisDestination puts through the Kinesis API with the AWS SDK for Go,
// as `sluice bench --api kinesis` does, signed with SigV4. The SDK retries
// nothing itself: the agent's sender retries with its own backoff.
type KinesisDestination struct {
	kc   *kinesis.Client
	recs []types.PutRecordsRequestEntry
}

// NewKinesisDestination returns a destination for the endpoint.
func NewKinesisDestination(o KinesisOptions) (*KinesisDestination, error) {
	if o.Endpoint == "" {
		return nil, errors.New("the Kinesis destination needs an endpoint URL (--endpoint)")
	}
	if o.Credentials == nil {
		return nil, errors.New("the Kinesis destination needs credentials to sign with: --access-key and --secret-key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = o.TLS
	keys := aws.Credentials{AccessKeyID: o.Credentials.AccessKeyID, SecretAccessKey: o.Credentials.SecretAccessKey,
		SessionToken: o.SessionToken, Source: "sluice agent"}
	return &KinesisDestination{kc: kinesis.New(kinesis.Options{
		Region:       o.Region,
		BaseEndpoint: aws.String(o.Endpoint),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return keys, nil })),
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 1
			so.RateLimiter = ratelimit.None
		}),
		// The request body is handed to net/http as a copy: smithy-go closes
		// its own body wrapper under net/http's last read, which made about
		// 1% of connections close under a response (awshttp explains it);
		// for the agent such a failure is a batch sent twice.
		HTTPClient: &http.Client{Transport: awshttp.CopyBodyTransport{Next: tr}},
	})}, nil
}

// PutRecords implements Destination.
func (d *KinesisDestination) PutRecords(ctx context.Context, stream string, recs []Record, results []error) error {
	d.recs = d.recs[:0]
	for _, r := range recs {
		d.recs = append(d.recs, types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String(string(r.Key))})
	}
	out, err := d.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: d.recs})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return &PutError{Code: ae.ErrorCode(), Message: ae.ErrorMessage()}
		}
		return err
	}
	if len(out.Records) != len(recs) {
		return &PutError{Code: "InternalFailure", Message: "the PutRecords response does not have one result per record"}
	}
	for i, r := range out.Records {
		results[i] = nil
		if r.ErrorCode != nil {
			results[i] = &PutError{Code: *r.ErrorCode, Message: aws.ToString(r.ErrorMessage)}
		}
	}
	return nil
}

// Close releases idle connections.
func (d *KinesisDestination) Close() error {
	return nil
}
