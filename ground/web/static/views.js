// A kind of object the project adds to Open MCT together with its view: the type (name,
// description, icon; for a kind operators create, how) and the view that shows objects of it.
export function addTypeWithView(openmct, { type, name, description, cssClass, view, ...creation }) {
  openmct.types.addType(type, { name, description, cssClass, ...creation });
  openmct.objectViews.addProvider({
    key: type,
    name,
    cssClass,
    canView: (domainObject) => domainObject.type === type,
    priority: () => 10,
    view
  });
}
