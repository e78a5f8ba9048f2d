// What a deployment tells the console: where the API is and how to sign in. Served beside the
// page as /config.json (written by scripts/deploy-console; the local runner serves its own).

export interface OidcConfig {
  authorization_endpoint: string;
  token_endpoint: string;
  client_id: string;
  scope: string;
  /** Which token the API accepts: the ID token (it carries the e-mail) or the access token. */
  api_token: 'id_token' | 'access_token';
}

export interface ConsoleConfig {
  api_base: string;
  oidc: OidcConfig;
  /** The local runner's development sign-in: any e-mail, any role. Shown plainly. */
  development_sign_in?: boolean;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json could not be read (${response.status})`);
  const config = (await response.json()) as ConsoleConfig;
  if (!config.api_base || !config.oidc?.authorization_endpoint || !config.oidc?.token_endpoint) {
    throw new Error('config.json needs api_base and oidc endpoints');
  }
  return { ...config, api_base: config.api_base.replace(/\/+$/, '') };
}
