// The server's JSON API, with the session's CSRF token on every request that changes something.
export class Api {
  constructor(session) {
    this.session = session;
  }

  async get(path) {
    const response = await fetch(path, { credentials: 'same-origin' });
    if (response.status === 401) {
      location.href = '/login';
    }
    return this.#answer(response);
  }

  async send(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': this.session.csrf },
      body: JSON.stringify(body)
    });
    return this.#answer(response);
  }

  post(path, body) {
    return this.send('POST', path, body);
  }

  async #answer(response) {
    const body = await response.json();
    if (!response.ok) {
      throw new Error(body.error || `${response.status}`);
    }
    return body;
  }
}
