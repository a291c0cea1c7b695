package ops

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/certain-marketo/certain-marketo/infra/cmctl/certainprobe"
	"github.com/certain-marketo/certain-marketo/lib/config"
	"github.com/certain-marketo/certain-marketo/lib/secrets"
)

// EnvCertainPassword is the environment variable probe-certain reads the
// Certain password from (never a flag: flags show in process lists).
const EnvCertainPassword = "CERTAIN_PASSWORD"

// probeFlags are probe-certain's own flags.
type probeFlags struct {
	url, account, event, user, connection, record string
	writeTest, allowHTTP                          bool
}

// runProbeCertain checks one Certain tenant (infra/cmctl/certainprobe).
// Exit 1 when a check fails or, with --connection, a configured setting
// differs from what the probe inferred.
func runProbeCertain(ctx context.Context, e Env, args []string) error {
	var c common
	var f probeFlags
	fs := newFlags("probe-certain", e, &c)
	fs.StringVar(&f.url, "url", "", "tenant base URL, e.g. https://app.certain.com")
	fs.StringVar(&f.account, "account", "", "Certain account code")
	fs.StringVar(&f.event, "event", "", "event code to probe")
	fs.StringVar(&f.user, "user", "", "Certain API user (password from $"+EnvCertainPassword+")")
	fs.StringVar(&f.connection, "connection", "", "a connection file, or an account whose connection is in the config table")
	fs.StringVar(&f.record, "record", "", "save every raw response here, redacted")
	fs.BoolVar(&f.writeTest, "write-test", false, "create, update, re-read and delete a profile and a registration (sandbox events only)")
	fs.BoolVar(&f.allowHTTP, "allow-http", false, "permit a plain http:// URL (simulators)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	o, err := probeOptions(ctx, e, c, f)
	if err != nil {
		return err
	}
	rep, err := certainprobe.Run(ctx, o)
	if err != nil {
		return err
	}
	if c.json {
		err = writeJSON(e.Stdout, rep)
	} else {
		err = rep.WriteText(e.Stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return errReported
	}
	return nil
}

// probeOptions builds the probe's options from the flags: a connection
// (from a file or the config table) or --url/--account, and credentials
// from --user and $CERTAIN_PASSWORD or the connection's secret.
func probeOptions(ctx context.Context, e Env, c common, f probeFlags) (certainprobe.Options, error) {
	o := certainprobe.Options{Event: f.event, WriteTest: f.writeTest, RecordDir: f.record, Now: e.Now}
	if f.event == "" {
		return o, usagef("--event is required")
	}
	if f.connection != "" {
		conn, err := loadConnection(ctx, e, c, f.connection, f.account)
		if err != nil {
			return o, err
		}
		o.Conn, o.Configured = conn, true
	} else {
		if f.url == "" || f.account == "" {
			return o, usagef("give --url and --account, or --connection FILE|ACCOUNT")
		}
		u, err := url.Parse(f.url)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && f.allowHTTP)) {
			return o, usagef("--url %q must be an https URL (http only with --allow-http)", f.url)
		}
		o.Conn = config.Connection{Account: f.account, CertainBaseURL: f.url, AllowHTTP: f.allowHTTP}
	}
	if f.url != "" && f.connection != "" {
		o.Conn.CertainBaseURL = f.url
	}
	o.Username, o.Password = f.user, e.lookup(EnvCertainPassword)
	if o.Username != "" && o.Password == "" {
		return o, usagef("--user needs the password in $%s", EnvCertainPassword)
	}
	if o.Username == "" {
		if !o.Configured {
			return o, usagef("--user is required (password from $%s), or --connection to use the connection's secret", EnvCertainPassword)
		}
		cred, err := certainSecret(ctx, e, o.Conn.CertainSecret)
		if err != nil {
			return o, err
		}
		o.Username, o.Password = cred.Username, cred.Password
	}
	return o, nil
}

// loadConnection reads --connection: a file holding the connection (the
// one of --account when it holds several), or an account in the table.
func loadConnection(ctx context.Context, e Env, c common, ref, account string) (config.Connection, error) {
	if _, err := os.Stat(ref); err == nil {
		set := LoadFiles([]string{ref})
		if len(set.Problems) > 0 {
			return config.Connection{}, fmt.Errorf("--connection %s: %s", ref, set.Problems[0])
		}
		conns := set.Connections()
		if account != "" {
			if conn, ok := conns[account]; ok {
				return conn, nil
			}
			return config.Connection{}, fmt.Errorf("--connection %s holds no connection for account %q", ref, account)
		}
		if len(conns) != 1 {
			return config.Connection{}, usagef("--connection %s holds %d connections: name one with --account", ref, len(conns))
		}
		for _, conn := range conns {
			return conn, nil
		}
	}
	if strings.ContainsAny(ref, "/\\.") {
		return config.Connection{}, fmt.Errorf("--connection %s: no such file", ref)
	}
	st, err := e.openStore(ctx, c)
	if err != nil {
		return config.Connection{}, err
	}
	conn, err := st.GetConnection(ctx, ref)
	if err != nil {
		return config.Connection{}, fmt.Errorf("--connection %s: %w", ref, err)
	}
	return conn, nil
}

// certainSecret reads a connection's Certain credentials from Secrets Manager.
func certainSecret(ctx context.Context, e Env, id string) (secrets.CertainCredentials, error) {
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return secrets.CertainCredentials{}, err
	}
	m := secrets.New(secretsmanager.NewFromConfig(cfg), 0, e.now)
	cred, err := m.Certain(ctx, id)
	if err != nil {
		return secrets.CertainCredentials{}, fmt.Errorf("certain secret: %w", err)
	}
	return cred, nil
}
