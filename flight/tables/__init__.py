"""Parameter tables, as cFS table services keep them: the governor's, the downlink's and safe
mode's settings in validated files. declared.py says what each table holds, the image ships one
file of each (shipped/), store.py keeps the ones in use and their CRCs, commands.py replaces and
resets them."""
