import json, numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
zs=[0,0.5,1,2,5,8,10,20,30,37,38,38.5,-3]
ts=[(0,5),(0.3,2.5),(1,1),(2,10),(5,3.2),(10,7),(40,4),(100,30),(1e3,50),(1e5,1.0),(3,1e6),(12,200000),(50,2.2),(-2,8)]
ps=list(np.random.default_rng(0).uniform(0,1,200)**3); ps[5]=float('nan'); ps[7]=ps[8]
adj=multipletests(np.where(np.isnan(ps),1,ps),method='fdr_bh')[1]
vals=[0,0,1.5,1.5,1.5,2,3,3,0]
print(json.dumps({"norm":[[z,2*stats.norm.sf(abs(z)),stats.norm.sf(z)] for z in zs],
 "t":[[t,df,2*stats.t.sf(abs(t),df),stats.t.sf(t,df)] for t,df in ts],
 "bh":{"p":[None if np.isnan(p) else p for p in ps],"adj":list(adj)},
 "tie":{"v":vals,"tc":float(stats.tiecorrect(stats.rankdata(vals)))}}))
