// The login form: the password goes to /api/login once; the session is an HttpOnly cookie.
const form = document.getElementById('login');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const message = document.getElementById('message');
  message.textContent = '';
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      name: document.getElementById('name').value,
      password: document.getElementById('password').value
    })
  });
  if (response.ok) {
    location.href = '/';
  } else {
    message.textContent = (await response.json()).error;
  }
});
