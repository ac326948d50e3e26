// What an operator builds (plots, tables, layouts, folders) is saved on the server under their
// account: Open MCT's "My Items" lives in the "mine" namespace, which this provider keeps there.
export function accountObjectsPlugin(api) {
  return function install(openmct) {
    const path = (identifier) => `/api/objects/${encodeURIComponent(identifier.key)}`;
    openmct.objects.addProvider('mine', {
      async get(identifier) {
        try {
          return await api.get(path(identifier));
        } catch {
          return undefined;
        }
      },
      async create(domainObject) {
        await api.send('PUT', path(domainObject.identifier), domainObject);
        return true;
      },
      async update(domainObject) {
        await api.send('PUT', path(domainObject.identifier), domainObject);
        return true;
      }
    });
    openmct.install(openmct.plugins.MyItems('My Items', 'mine'));
  };
}
